import type { Channel, Locale, Segment } from './account.js';

/** Everything a notice may say. Secrets (a temporary PIN, an enrollment code) are filled in only
 * at render time, in the notifier, right before the send; the rendered text is never stored. */
export interface NoticeVars {
  readonly firstName?: string;
  readonly brand: string;
  readonly helpUrl: string;
  readonly segment: Segment;
  /** The account's PIN was rotated by this wave. */
  readonly pinReset?: boolean;
  /** A temporary PIN to deliver (only by SMS to the account's own number). */
  readonly temporaryPin?: string;
  /** Identity-protection enrollment code and its deadline (ISO date). */
  readonly enrollmentCode?: string;
  readonly enrollBy?: string;
  /** One-click unsubscribe link for email (RFC 8058). */
  readonly unsubscribeUrl?: string;
}

export interface RenderedSms {
  readonly channel: 'sms';
  readonly body: string;
}
export interface RenderedEmail {
  readonly channel: 'email';
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}
export type RenderedNotice = RenderedSms | RenderedEmail;

interface Strings {
  greeting(name?: string): string;
  subject(brand: string): string;
  what(brand: string, segment: Segment): string;
  pinReset: string;
  temporaryPin(pin: string): string;
  code(code: string, by: string): string;
  help(url: string): string;
  sms(brand: string): string;
  stop: string;
}

const WHAT_EN: Record<Segment, string> = {
  'prepaid-active': 'your prepaid account name, phone number and account PIN',
  'postpaid-current': 'your name, date of birth, and government ID information',
  former: 'your name, date of birth, and government ID information from a past account',
  prospective: 'information you gave us when applying for service',
};
const WHAT_ES: Record<Segment, string> = {
  'prepaid-active': 'el nombre, número de teléfono y PIN de su cuenta prepago',
  'postpaid-current': 'su nombre, fecha de nacimiento e información de identificación oficial',
  former: 'su nombre, fecha de nacimiento e identificación oficial de una cuenta anterior',
  prospective: 'información que nos dio al solicitar el servicio',
};

const STRINGS: Record<Locale, Strings> = {
  en: {
    greeting: (n) => (n ? `Dear ${n},` : 'Dear customer,'),
    subject: (b) => `${b}: important notice about your information`,
    what: (b, s) => `${b} identified unauthorized access to ${WHAT_EN[s]}.`,
    pinReset: 'As a precaution we reset your account PIN. Set a new one in the app or by calling care.',
    temporaryPin: (p) => `Your temporary account PIN is ${p}. Change it after you sign in.`,
    code: (c, by) => `You can enroll in 2 years of free identity protection with code ${c} by ${by}.`,
    help: (u) => `Details: ${u}`,
    sms: (b) => `${b} security notice:`,
    stop: 'Reply STOP to opt out.',
  },
  es: {
    greeting: (n) => (n ? `Estimado/a ${n}:` : 'Estimado/a cliente:'),
    subject: (b) => `${b}: aviso importante sobre su información`,
    what: (b, s) => `${b} detectó un acceso no autorizado a ${WHAT_ES[s]}.`,
    pinReset: 'Como precaución restablecimos el PIN de su cuenta. Elija uno nuevo en la app o llamando a atención al cliente.',
    temporaryPin: (p) => `Su PIN temporal es ${p}. Cámbielo al iniciar sesión.`,
    code: (c, by) => `Inscríbase en 2 años de protección de identidad gratis con el código ${c} antes del ${by}.`,
    help: (u) => `Detalles: ${u}`,
    sms: (b) => `Aviso de seguridad de ${b}:`,
    stop: 'Responda STOP para no recibir más.',
  },
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function lines(t: Strings, v: NoticeVars): string[] {
  const out = [t.what(v.brand, v.segment)];
  if (v.pinReset) out.push(v.temporaryPin ? t.temporaryPin(v.temporaryPin) : t.pinReset);
  if (v.enrollmentCode && v.enrollBy) out.push(t.code(v.enrollmentCode, v.enrollBy));
  out.push(t.help(v.helpUrl));
  return out;
}

/** Renders the breach notice for one channel and locale. Pure. */
export function renderNotice(channel: Channel, locale: Locale, vars: NoticeVars): RenderedNotice {
  const t = STRINGS[locale];
  const body = lines(t, vars);
  if (channel === 'sms') {
    return { channel, body: [t.sms(vars.brand), ...body, t.stop].join(' ') };
  }
  const text = [t.greeting(vars.firstName), '', ...body].join('\n');
  const html = `<p>${escapeHtml(t.greeting(vars.firstName))}</p>\n${body.map((l) => `<p>${escapeHtml(l)}</p>`).join('\n')}`;
  return { channel, subject: t.subject(vars.brand), text, html };
}

/** First word of a name, for a greeting. */
export function firstNameOf(name: string | undefined): string | undefined {
  const first = name?.trim().split(/\s+/)[0];
  return first ? first : undefined;
}
