import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHANNELS, DATA_CATEGORIES, LOCALES, type Channel, type DataCategory, type Locale } from './account.js';
import { checkSmsTemplates, smsSegments } from './sms.js';
import {
  CATEGORY_PHRASES, NO_CATEGORY_PHRASES, REMEDIATION_PHRASES, exposurePhrase, renderNotice, templateValueProblem, type NoticeVars, type RenderedNotice,
} from './templates.js';

// The configuration's defaults: the texts `wave create` checks unless a wave names its own.
const BASE = { brand: 'Example Wireless', helpUrl: 'https://breach-help.example.com' } as const;
/** A wave's own template values (support phone, sign-off): said to everyone, so they must change no category line. */
const WITH_VALUES = { ...BASE, supportPhone: '1-800-555-0199', signOff: 'The Example Wireless security team' } as const;
const PIN = '000000000000';
const CODE = 'XXXXXXXXXXXXXXXXXXXX';
const ENROLL_BY = '2099-12-31';

/** Remediation variants as the enrichers produce them: a temporary PIN always comes with a reset. */
const REMEDIATIONS: readonly [string, Partial<NoticeVars>][] = [
  ['none', {}],
  ['pin-reset', { pinReset: true }],
  ['temporary-pin', { pinReset: true, temporaryPin: PIN }],
  ['code', { enrollmentCode: CODE, enrollBy: ENROLL_BY }],
  ['pin-reset+code', { pinReset: true, enrollmentCode: CODE, enrollBy: ENROLL_BY }],
  ['temporary-pin+code', { pinReset: true, temporaryPin: PIN, enrollmentCode: CODE, enrollBy: ENROLL_BY }],
];

const unescapeHtml = (s: string): string =>
  s.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

/** Each text a reader sees, separately: the SMS body; the email's subject with its text, and its HTML. */
function texts(n: RenderedNotice): string[] {
  return n.channel === 'sms' ? [n.body] : [`${n.subject}\n${n.text}`, unescapeHtml(n.html)];
}

const subsets = function* (): Generator<DataCategory[]> {
  for (let mask = 0; mask < 1 << DATA_CATEGORIES.length; mask++) {
    const set = DATA_CATEGORIES.filter((_, i) => (mask & (1 << i)) !== 0);
    // Half the subsets arrive reversed: the notice's order must not depend on the file's.
    yield mask % 2 === 0 ? set : [...set].reverse();
  }
};

describe('notices name exactly what was exposed and what was done', () => {
  it('has 11 categories, so 2048 subsets are rendered per locale, channel and remediation', () => {
    assert.equal(DATA_CATEGORIES.length, 11);
  });

  it('every subset × locale × channel × remediation, with and without the wave\'s template values: a category phrase appears iff exposed, in the fixed order; each remediation line iff taken', () => {
    let rendered = 0;
    for (const base of [BASE, WITH_VALUES]) for (const exposed of subsets()) {
      for (const locale of LOCALES) {
        for (const channel of CHANNELS) {
          const phrases = CATEGORY_PHRASES[locale][channel];
          const marks = REMEDIATION_PHRASES[locale];
          for (const [variant, extra] of REMEDIATIONS) {
            const vars: NoticeVars = { ...base, firstName: 'Ana', exposed, ...extra };
            const n = renderNotice(channel, locale, vars);
            rendered++;
            // Messages are built only on failure: this loop makes some 300,000 checks.
            const where = (): string => `${locale} ${channel} [${exposed.join(',')}] ${variant}${base === WITH_VALUES ? ' with template values' : ''}`;
            const expect = (actual: boolean, wanted: boolean, what: string): void => {
              if (actual !== wanted) assert.fail(`${where()}: ${what}`);
            };
            for (const text of texts(n)) {
              let previous = -1;
              for (const c of DATA_CATEGORIES) {
                const at = text.indexOf(phrases[c]);
                const named = exposed.includes(c);
                if ((at >= 0) !== named) expect(at >= 0, named, `"${phrases[c]}" said iff ${c} exposed`);
                if (at >= 0) {
                  expect(at > previous, true, `${c} in the fixed category order`);
                  previous = at;
                }
              }
              expect(text.includes(NO_CATEGORY_PHRASES[locale][channel]), exposed.length === 0, 'the generic wording iff nothing is named');
              expect(text.includes(marks.pinReset), Boolean(vars.pinReset || vars.temporaryPin), 'the reset line iff the PIN was rotated');
              expect(text.includes(marks.temporaryPin), vars.temporaryPin !== undefined, 'the temporary PIN line iff one is delivered');
              expect(text.includes(PIN), vars.temporaryPin !== undefined, 'the PIN itself iff delivered');
              expect(text.includes(marks.code), vars.enrollmentCode !== undefined, 'the code line iff a code was issued');
              expect(text.includes(CODE) && text.includes(ENROLL_BY), vars.enrollmentCode !== undefined, 'the code with its enroll-by date');
              if (base === WITH_VALUES) {
                expect(text.includes(WITH_VALUES.supportPhone), true, 'the support phone');
                expect(text.includes(WITH_VALUES.signOff), channel === 'email', 'the sign-off, in the email only');
              }
            }
            if (n.channel === 'sms') {
              const info = smsSegments(n.body);
              expect(info.encoding === 'GSM-7', true, 'GSM-7');
              // A support phone lengthens every SMS: the wave's own texts are measured when it is created and in its dry run.
              if (base === BASE) expect(info.segments <= 3, true, `${info.segments} segments, over the default budget of 3`);
            }
          }
        }
      }
    }
    assert.equal(rendered, 2 * 2048 * 2 * 2 * REMEDIATIONS.length);
  });

  it('no phrase contains another one, so finding a phrase means exactly that category was named', () => {
    for (const locale of LOCALES) {
      for (const channel of CHANNELS) {
        const all: [string, string][] = [
          ...DATA_CATEGORIES.map((c): [string, string] => [c, CATEGORY_PHRASES[locale][channel][c]]),
          ['none', NO_CATEGORY_PHRASES[locale][channel]],
        ];
        for (const [a, pa] of all) {
          for (const [b, pb] of all) if (a !== b) assert.ok(!pa.includes(pb), `${locale} ${channel}: "${pa}" (${a}) contains "${pb}" (${b})`);
          for (const mark of Object.values(REMEDIATION_PHRASES[locale])) {
            assert.ok(!pa.includes(mark) && !mark.includes(pa), `${locale} ${channel}: "${pa}" and the remediation phrase "${mark}"`);
          }
        }
      }
    }
  });

  it('a code without its enroll-by date, or a reset flag left false, adds no line', () => {
    for (const locale of LOCALES) {
      for (const channel of CHANNELS) {
        for (const text of texts(renderNotice(channel, locale, { ...BASE, exposed: ['ssn'], enrollmentCode: CODE, pinReset: false }))) {
          assert.ok(!text.includes(CODE) && !text.includes(REMEDIATION_PHRASES[locale].code), `${locale} ${channel}: no code line without a date`);
          assert.ok(!text.includes(REMEDIATION_PHRASES[locale].pinReset), `${locale} ${channel}: no reset line`);
        }
      }
    }
  });
});

describe('a wave\'s own template values', () => {
  it('are refused when they name a data category or a remediation, in either language, or carry markup or line breaks', () => {
    for (const ok of ['The Example Wireless security team', 'El equipo de seguridad de Example', '1-800-555-0199', 'Acme Mobile', 'Renamed Co.']) {
      assert.equal(templateValueProblem(ok), undefined, ok);
    }
    const refused: [string, RegExp][] = [
      ['We keep your SSN safe', /"SSN" names ssn/],
      ['Your Social Security number is safe with us', /names ssn/],
      ['Protegemos su fecha de nacimiento', /names dob/],
      ['Your name matters', /names name/],
      ['As always, we reset your PIN', /remediation/],
      ['information associated with your account is safe', /exposed information/],
      ['Team<script>', /one line/],
      ['Team\nYour SSN leaked', /one line/],
      ['{brand}', /one line/],
    ];
    for (const [value, why] of refused) assert.match(templateValueProblem(value) ?? '(accepted)', why, value);
  });
});

describe('list grammar', () => {
  const cases: [Locale, Channel, DataCategory[], string][] = [
    ['en', 'email', ['name', 'phone', 'pin'], 'your name, phone number and account PIN'],
    ['es', 'email', ['name', 'phone', 'pin'], 'su nombre, número de teléfono y PIN de la cuenta'],
    ['en', 'sms', ['ssn'], 'your SSN'],
    ['es', 'email', ['email', 'dob'], 'su correo electrónico y fecha de nacimiento'],
    ['en', 'email', [], 'information associated with your account'],
    ['es', 'email', [], 'información asociada a su cuenta'],
    // Spanish "y" becomes "e" before an /i/ sound.
    ['es', 'sms', ['name', 'imei'], 'su nombre e IMEI'],
    ['es', 'email', ['name', 'imsi'], 'su nombre e identificador de la tarjeta SIM (IMSI)'],
    ['es', 'sms', ['pin', 'imei'], 'su IMEI y PIN de la cuenta'],
  ];
  for (const [locale, channel, exposed, want] of cases) {
    it(`${locale} ${channel} [${exposed.join(', ')}] → "${want}"`, () => {
      assert.equal(exposurePhrase(locale, channel, exposed), want);
    });
  }

  it('the Spanish notice says "al", never "a el"', () => {
    for (const channel of CHANNELS) {
      for (const [, extra] of REMEDIATIONS) {
        for (const text of texts(renderNotice(channel, 'es', { ...BASE, exposed: DATA_CATEGORIES, ...extra }))) {
          assert.doesNotMatch(text, /\ba el\b/i);
        }
      }
    }
  });
});

describe('SMS segment budget', () => {
  it('the longest texts fit the default budget of 3 with the default brand and help URL', () => {
    assert.deepEqual(checkSmsTemplates(BASE, 3), []);
  });

  it('reports each locale and variant over a tighter budget, measured on the rendered text', () => {
    const warnings = checkSmsTemplates(BASE, 2);
    assert.ok(warnings.some((w) => w.locale === 'en' && w.variant === 'temporary-pin+code' && w.segments === 3 && w.encoding === 'GSM-7'));
    assert.ok(warnings.some((w) => w.locale === 'es' && w.variant === 'temporary-pin+code' && w.segments === 3 && w.encoding === 'GSM-7'));
    assert.ok(!warnings.some((w) => w.variant === 'plain'), 'every category and no remediation fits in 2');
  });
});
