import { DATA_CATEGORIES, LOCALES, type Locale } from './account.js';
import { CODE_MAX_LENGTH } from './code.js';
import { MAX_PIN_LENGTH } from './pin.js';
import { renderNotice, type NoticeVars } from './templates.js';

// GSM 03.38 basic character set, and the extension table whose characters take two septets.
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENDED = new Set('^{}\\[~]|€\f');

/**
 * The longest message body the SMS provider takes, in characters (Twilio refuses a longer one with
 * error 21617). A consolidated notice naming many accounts, each with its own temporary PIN and
 * code, can pass it: it then names fewer accounts and the others get a notice of their own.
 */
export const SMS_BODY_MAX_CHARS = 1600;

export interface SmsSegmentInfo {
  readonly encoding: 'GSM-7' | 'UCS-2';
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  readonly units: number;
  readonly segments: number;
}

/**
 * How many SMS segments a body costs. GSM-7: 160 septets in one segment, 153 per segment when
 * concatenated; any character outside GSM-7 switches the whole message to UCS-2: 70, then 67.
 * (3GPP TS 23.038 / 23.040.)
 */
export function smsSegments(body: string): SmsSegmentInfo {
  let septets = 0;
  let gsm = true;
  for (const ch of body) {
    if (GSM7_BASIC.has(ch)) septets += 1;
    else if (GSM7_EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return { encoding: 'GSM-7', units: septets, segments: septets <= 160 ? 1 : Math.ceil(septets / 153) };
  const units = body.length;
  return { encoding: 'UCS-2', units, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
}

export interface TemplateWarning {
  readonly locale: Locale;
  /** Which remediation lines the rendered SMS carried, e.g. `temporary-pin+code`. */
  readonly variant: string;
  readonly encoding: SmsSegmentInfo['encoding'];
  readonly segments: number;
}

/**
 * Renders the longest SMS a wave can send in each locale and remediation variant (plain, PIN
 * reset, temporary PIN, code, and each with a code) and reports those over `budget` segments.
 * Every data category is exposed, the temporary PIN has {@link MAX_PIN_LENGTH} digits and the
 * code {@link CODE_MAX_LENGTH} characters: each only lengthens the text, and a notice names no
 * category outside GSM-7 that the full list would not, so a subset never costs more segments
 * than what is checked here. Each segment is billed and delivered separately; one character
 * outside GSM-7 ("é" and "ñ" are in it, "á", "í", "ó" and "ú" are not) switches the whole
 * message to UCS-2 and can triple its cost.
 */
export function checkSmsTemplates(base: Pick<NoticeVars, 'brand' | 'helpUrl' | 'supportPhone'>, budget: number): TemplateWarning[] {
  const pin = '0'.repeat(MAX_PIN_LENGTH);
  const code = { enrollmentCode: 'X'.repeat(CODE_MAX_LENGTH), enrollBy: '2099-12-31' };
  const variants: [string, Partial<NoticeVars>][] = [
    ['plain', {}],
    ['pin-reset', { pinReset: true }],
    ['temporary-pin', { pinReset: true, temporaryPin: pin }],
    ['code', code],
    ['pin-reset+code', { pinReset: true, ...code }],
    ['temporary-pin+code', { pinReset: true, temporaryPin: pin, ...code }],
  ];
  const out: TemplateWarning[] = [];
  for (const locale of LOCALES) {
    for (const [variant, extra] of variants) {
      const n = renderNotice('sms', locale, { ...base, ...extra, exposed: DATA_CATEGORIES });
      if (n.channel !== 'sms') continue;
      const info = smsSegments(n.body);
      if (info.segments > budget) out.push({ locale, variant, encoding: info.encoding, segments: info.segments });
    }
  }
  return out;
}
