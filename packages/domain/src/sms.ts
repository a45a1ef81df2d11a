import { SEGMENTS, LOCALES, type Locale, type Segment } from './account.js';
import { renderNotice, type NoticeVars } from './templates.js';

// GSM 03.38 basic character set, and the extension table whose characters take two septets.
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENDED = new Set('^{}\\[~]|€\f');

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
  readonly segment: Segment;
  readonly locale: Locale;
  readonly variant: string;
  readonly encoding: SmsSegmentInfo['encoding'];
  readonly segments: number;
}

/**
 * Renders every SMS variant a wave can send (segment × locale × with/without PIN reset and code)
 * with worst-case placeholder values, and reports those over `budget` segments. Each segment is
 * billed and delivered separately; a UCS-2 character (e.g. "á" is GSM-7, "í" is not) can triple
 * the cost of a message.
 */
export function checkSmsTemplates(base: Pick<NoticeVars, 'brand' | 'helpUrl'>, budget: number): TemplateWarning[] {
  const variants: [string, Partial<NoticeVars>][] = [
    ['plain', {}],
    ['pin-reset', { pinReset: true }],
    ['temporary-pin', { pinReset: true, temporaryPin: '00000000' }],
    ['code', { enrollmentCode: 'XXXXXXXXXX', enrollBy: '2099-12-31' }],
    ['pin-reset+code', { pinReset: true, enrollmentCode: 'XXXXXXXXXX', enrollBy: '2099-12-31' }],
  ];
  const out: TemplateWarning[] = [];
  for (const segment of SEGMENTS) {
    for (const locale of LOCALES) {
      for (const [variant, extra] of variants) {
        const n = renderNotice('sms', locale, { ...base, ...extra, segment });
        if (n.channel !== 'sms') continue;
        const info = smsSegments(n.body);
        if (info.segments > budget) out.push({ segment, locale, variant, encoding: info.encoding, segments: info.segments });
      }
    }
  }
  return out;
}
