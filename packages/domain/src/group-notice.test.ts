import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHANNELS, DATA_CATEGORIES, LOCALES, type DataCategory } from './account.js';
import { smsSegments } from './sms.js';
import {
  CATEGORY_PHRASES, MAX_GROUP_ACCOUNTS, NO_CATEGORY_PHRASES, REMEDIATION_PHRASES, maskedAccount, renderGroupNotice, renderNotice,
  type GroupNoticeAccount, type NoticeVars, type RenderedNotice,
} from './templates.js';

const BASE = { brand: 'Example Wireless', helpUrl: 'https://breach-help.example.com' } as const;
const ENROLL_BY = '2099-12-31';

/** Remediation variants as the enrichers produce them, with secrets that differ per account (`n`). */
const remediations = (n: number): readonly [string, Partial<NoticeVars>][] => {
  const pin = String(n).repeat(12);
  const code = 'XYZ'[n % 3]?.repeat(20) ?? '';
  return [
    ['none', {}],
    ['pin-reset', { pinReset: true }],
    ['temporary-pin', { pinReset: true, temporaryPin: pin }],
    ['code', { enrollmentCode: code, enrollBy: ENROLL_BY }],
    ['pin-reset+code', { pinReset: true, enrollmentCode: code, enrollBy: ENROLL_BY }],
    ['temporary-pin+code', { pinReset: true, temporaryPin: pin, enrollmentCode: code, enrollBy: ENROLL_BY }],
  ];
};

const unescapeHtml = (s: string): string =>
  s.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
function texts(n: RenderedNotice): string[] {
  return n.channel === 'sms' ? [n.body] : [`${n.subject}\n${n.text}`, unescapeHtml(n.html)];
}

/** A part's header: "Account 0170:", "Accounts 0170 and 0171:", "Cuentas terminadas en 0170 y 0171:"… */
const HEADER = /(?:Accounts?(?: ending in)?|Cuentas?(?: terminadas? en)?) (\d{4}(?:(?:, | and | y )\d{4})*):/g;

/** The notice cut into its per-account parts: each part's labels and its text up to the next part or the help line. */
function parts(text: string): { labels: string[]; body: string }[] {
  const found = [...text.matchAll(HEADER)];
  return found.map((m, i) => {
    const start = (m.index ?? 0) + m[0].length;
    const next = found[i + 1]?.index ?? text.search(/Details: |Detalles: /);
    return { labels: (m[1] ?? '').split(/, | and | y /), body: text.slice(start, next) };
  });
}

describe('consolidated notices name each account and exactly what was exposed and done for it', () => {
  it('every subset × locale × channel × remediation, beside another account with the other categories and another remediation', () => {
    let rendered = 0;
    for (let mask = 0; mask < 1 << DATA_CATEGORIES.length; mask++) {
      const a = DATA_CATEGORIES.filter((_, i) => (mask & (1 << i)) !== 0);
      const b = DATA_CATEGORIES.filter((_, i) => (mask & (1 << i)) === 0);
      for (const locale of LOCALES) {
        for (const channel of CHANNELS) {
          const phrases = CATEGORY_PHRASES[locale][channel];
          const marks = REMEDIATION_PHRASES[locale];
          for (const [vi, [variant, extraA]] of remediations(1).entries()) {
            const extraB = remediations(2)[(vi + 1 + (mask % 5)) % 6]?.[1] ?? {};
            const accounts: GroupNoticeAccount[] = [
              { label: '0170', exposed: mask % 2 === 0 ? a : [...a].reverse(), ...extraA },
              { label: '0171', exposed: b, ...extraB },
            ];
            const n = renderGroupNotice(channel, locale, { ...BASE, firstName: 'Ana' }, accounts);
            rendered++;
            const where = (): string => `${locale} ${channel} [${a.join(',')}] ${variant}`;
            for (const text of texts(n)) {
              const opening = text.slice(0, text.search(HEADER));
              if (!opening.includes('0170') || !opening.includes('0171')) assert.fail(`${where()}: the opening names every account`);
              const found = parts(text);
              const seen = found.flatMap((p) => p.labels).sort();
              if (seen.join() !== '0170,0171') assert.fail(`${where()}: each account has exactly one part (${seen.join()})`);
              for (const p of found) {
                for (const label of p.labels) {
                  const acct = accounts.find((x) => x.label === label);
                  assert.ok(acct);
                  const check = (actual: boolean, wanted: boolean, what: string): void => {
                    if (actual !== wanted) assert.fail(`${where()} account ${label}: ${what}`);
                  };
                  for (const c of DATA_CATEGORIES) check(p.body.includes(phrases[c]), acct.exposed.includes(c), `"${phrases[c]}" said iff ${c} exposed`);
                  check(p.body.includes(NO_CATEGORY_PHRASES[locale][channel]), acct.exposed.length === 0, 'the generic wording iff nothing is named');
                  check(p.body.includes(marks.pinReset), Boolean(acct.pinReset || acct.temporaryPin), 'the reset line iff its PIN was rotated');
                  check(p.body.includes(marks.temporaryPin), acct.temporaryPin !== undefined, 'the temporary PIN line iff one is delivered');
                  check(p.body.includes(marks.code), acct.enrollmentCode !== undefined, 'the code line iff a code was issued');
                  for (const other of accounts) {
                    if (other.temporaryPin) check(p.body.includes(other.temporaryPin), other === acct, 'a temporary PIN only in its own account\'s part');
                    if (other.enrollmentCode) check(p.body.includes(other.enrollmentCode), other === acct, 'a code only in its own account\'s part');
                  }
                }
              }
            }
            if (n.channel === 'sms' && smsSegments(n.body).encoding !== 'GSM-7') assert.fail(`${where()}: GSM-7`);
          }
        }
      }
    }
    assert.equal(rendered, 2048 * 2 * 2 * 6);
  });

  it('accounts told the same thing share one part; a part with a secret is never shared', () => {
    const same: GroupNoticeAccount[] = ['0170', '0171', '0172', '0173'].map((label) => ({ label, exposed: ['name', 'phone'] as DataCategory[], pinReset: true }));
    const en = renderGroupNotice('sms', 'en', BASE, same);
    assert.ok(en.channel === 'sms');
    assert.match(en.body, /^Example Wireless security notice for the accounts ending in 0170, 0171, 0172 and 0173\. Accounts 0170, 0171, 0172 and 0173: a data breach exposed your name and phone number\./);
    const es = renderGroupNotice('sms', 'es', BASE, same.slice(0, 2));
    assert.ok(es.channel === 'sms');
    assert.match(es.body, /^Aviso de seguridad de Example Wireless para las cuentas terminadas en 0170 y 0171\. Cuentas 0170 y 0171: hubo un acceso no autorizado a su nombre y tel/);
    const secrets = renderGroupNotice('sms', 'en', BASE, same.map((a, i) => ({ ...a, temporaryPin: `${i}`.repeat(6) })));
    assert.ok(secrets.channel === 'sms');
    assert.equal(parts(secrets.body).length, 4);
  });

  it('SMS segments of real consolidated texts: a family of four with PIN resets fits 3 segments, and every size up to the limit is measured', () => {
    const family = (n: number, extra: Partial<NoticeVars>): GroupNoticeAccount[] =>
      Array.from({ length: n }, (_, i) => ({ label: String(170 + i).padStart(4, '0'), exposed: ['name', 'phone', 'pin'] as DataCategory[], ...extra }));
    for (const locale of LOCALES) {
      const four = renderGroupNotice('sms', locale, BASE, family(4, { pinReset: true }));
      assert.ok(four.channel === 'sms');
      const info = smsSegments(four.body);
      assert.equal(info.encoding, 'GSM-7');
      assert.ok(info.segments <= 3, `${locale}: ${info.segments} segments`);
      // More accounts never make a notice shorter than fewer of them; the largest group is still one message.
      let previous = 0;
      for (let n = 2; n <= MAX_GROUP_ACCOUNTS; n++) {
        const t = renderGroupNotice('sms', locale, BASE, family(n, { pinReset: true, temporaryPin: '0'.repeat(12) }));
        assert.ok(t.channel === 'sms');
        const s = smsSegments(t.body).segments;
        assert.ok(s >= previous);
        previous = s;
      }
      // One message for four accounts costs fewer segments than four notices of their own.
      const single = renderNotice('sms', locale, { ...BASE, exposed: ['name', 'phone', 'pin'], pinReset: true });
      assert.ok(single.channel === 'sms');
      assert.ok(info.segments < 4 * smsSegments(single.body).segments);
    }
  });

  it('an account is named by the last four letters or digits of its id', () => {
    assert.equal(maskedAccount('ACCT-00000170'), '0170');
    assert.equal(maskedAccount('ab'), 'ab');
    assert.equal(maskedAccount('x_y-z9'), 'xyz9');
  });

  it('the Spanish consolidated notice says "al", never "a el"', () => {
    for (const channel of CHANNELS) {
      const n = renderGroupNotice(channel, 'es', BASE, [{ label: '0170', exposed: DATA_CATEGORIES, pinReset: true }, { label: '0171', exposed: [] }]);
      for (const text of texts(n)) assert.doesNotMatch(text, /\ba el\b/i);
    }
  });
});
