import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HELP_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, intentFromOptOutType, parseKeyword } from './keywords.js';

describe('parseKeyword', () => {
  it('knows Twilio\'s standard opt-out, opt-in and help keywords', () => {
    for (const k of ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']) assert.equal(parseKeyword(k), 'opt-out', k);
    for (const k of ['START', 'YES', 'UNSTOP']) assert.equal(parseKeyword(k), 'opt-in', k);
    for (const k of ['HELP', 'INFO']) assert.equal(parseKeyword(k), 'help', k);
    for (const k of OPT_OUT_KEYWORDS) assert.equal(parseKeyword(k), 'opt-out');
    for (const k of OPT_IN_KEYWORDS) assert.equal(parseKeyword(k), 'opt-in');
    for (const k of HELP_KEYWORDS) assert.equal(parseKeyword(k), 'help');
  });

  it('ignores case, surrounding whitespace and trailing punctuation', () => {
    assert.equal(parseKeyword('stop'), 'opt-out');
    assert.equal(parseKeyword('  Stop \n'), 'opt-out');
    assert.equal(parseKeyword('\u00a0unsubscribe\t'), 'opt-out');
    assert.equal(parseKeyword('Stop.'), 'opt-out');
    assert.equal(parseKeyword('quit!!'), 'opt-out');
    assert.equal(parseKeyword('sTaRt'), 'opt-in');
    assert.equal(parseKeyword(' yes '), 'opt-in');
  });

  it('only a whole-message keyword counts, as with Twilio', () => {
    for (const body of ['STOP PLEASE', 'please stop', 'stopp', 'don\'t stop', 'END OF STORY', 'start now', '', '   ', 'S T O P']) {
      assert.equal(parseKeyword(body), undefined, JSON.stringify(body));
    }
  });

  it('OptOutType from Advanced Opt-Out maps to an intent', () => {
    assert.equal(intentFromOptOutType('STOP'), 'opt-out');
    assert.equal(intentFromOptOutType('start'), 'opt-in');
    assert.equal(intentFromOptOutType('HELP'), 'help');
    assert.equal(intentFromOptOutType(undefined), undefined);
    assert.equal(intentFromOptOutType('other'), undefined);
  });
});
