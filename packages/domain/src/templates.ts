import { DATA_CATEGORIES, type Channel, type DataCategory, type Locale } from './account.js';

/**
 * Everything a notice may say. Its wording follows what happened to this account, never its
 * segment: the categories named are exactly `exposed`, and each remediation line appears only
 * when that remediation was taken. Secrets (a temporary PIN, an enrollment code) are filled in
 * only at render time, in the notifier, right before the send; the rendered text is never stored.
 */
export interface NoticeVars {
  readonly firstName?: string;
  readonly brand: string;
  readonly helpUrl: string;
  /**
   * The categories of this person's data that were exposed (the account's `exposed` column).
   * Named in {@link DATA_CATEGORIES} order whatever the order given; an empty list gives the
   * generic {@link NO_CATEGORY_PHRASES} wording, since the file did not say what leaked.
   */
  readonly exposed: readonly DataCategory[];
  /** The account's PIN was rotated by this wave. */
  readonly pinReset?: boolean;
  /**
   * A temporary PIN to deliver (only by SMS to the account's own number). One exists only
   * after a rotation, so its line also says the PIN was reset.
   */
  readonly temporaryPin?: string;
  /** Identity-protection enrollment code and its deadline (ISO date); the line needs both. */
  readonly enrollmentCode?: string;
  readonly enrollBy?: string;
  /**
   * A reminder of a notice already sent (a reminder wave): it says so and repeats the code line,
   * without naming the exposed data again.
   */
  readonly reminder?: boolean;
  /** One-click unsubscribe link for email (RFC 8058). */
  readonly unsubscribeUrl?: string;
  /** A support phone number given beside the help URL (SMS and email). */
  readonly supportPhone?: string;
  /** The email's closing line (the SMS has none: its budget is for what happened). */
  readonly signOff?: string;
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

type PhraseTable = Readonly<Record<DataCategory, string>>;

/**
 * How a notice names each data category, per locale and channel. The email names each one in
 * full; the SMS may use a shorter name (an abbreviation, no explanation in brackets) so that a
 * notice with every category still fits the segment budget, and points to the help URL. The
 * Spanish SMS names avoid characters outside GSM-7 (one "ú" or "ó" makes the whole message
 * UCS-2, 67 characters a segment instead of 153).
 *
 * No phrase contains another phrase of the same table, and no other line of a notice contains
 * one, so a phrase found in a rendered notice means exactly that category was named.
 */
export const CATEGORY_PHRASES: Readonly<Record<Locale, Readonly<Record<Channel, PhraseTable>>>> = {
  en: {
    email: {
      name: 'name',
      phone: 'phone number',
      email: 'email address',
      address: 'home address',
      dob: 'date of birth',
      ssn: 'Social Security number',
      'drivers-license': "driver's license number",
      imei: 'device identifier (IMEI)',
      imsi: 'SIM card identifier (IMSI)',
      pin: 'account PIN',
      'account-number': 'account number',
    },
    sms: {
      name: 'name',
      phone: 'phone number',
      email: 'email address',
      address: 'home address',
      dob: 'date of birth',
      ssn: 'SSN',
      'drivers-license': "driver's license",
      imei: 'IMEI',
      imsi: 'IMSI',
      pin: 'account PIN',
      'account-number': 'account number',
    },
  },
  es: {
    email: {
      name: 'nombre',
      phone: 'número de teléfono',
      email: 'correo electrónico',
      address: 'domicilio',
      dob: 'fecha de nacimiento',
      ssn: 'número de Seguro Social',
      'drivers-license': 'número de licencia de conducir',
      imei: 'identificador del equipo (IMEI)',
      imsi: 'identificador de la tarjeta SIM (IMSI)',
      pin: 'PIN de la cuenta',
      'account-number': 'número de cuenta',
    },
    sms: {
      name: 'nombre',
      // "é" is GSM-7; "número" is not, and "teléfono" alone is the usual word in a contact list.
      phone: 'teléfono',
      email: 'email',
      address: 'domicilio',
      dob: 'fecha de nacimiento',
      ssn: 'Seguro Social',
      'drivers-license': 'licencia de conducir',
      imei: 'IMEI',
      imsi: 'IMSI',
      pin: 'PIN de la cuenta',
      'account-number': 'No. de cuenta',
    },
  },
};

/**
 * What a notice says when the file named no category: the breach touched the account, but the
 * carrier did not say which data, so the notice claims no category rather than guess one.
 */
export const NO_CATEGORY_PHRASES: Readonly<Record<Locale, Readonly<Record<Channel, string>>>> = {
  en: { email: 'information associated with your account', sms: 'information associated with your account' },
  es: { email: 'información asociada a su cuenta', sms: 'datos asociados a su cuenta' },
};

/** A fixed part of each remediation line, per locale: present in a notice iff that line is. */
export const REMEDIATION_PHRASES: Readonly<Record<Locale, { readonly pinReset: string; readonly temporaryPin: string; readonly code: string }>> = {
  en: { pinReset: 'we reset your PIN', temporaryPin: 'Your temporary PIN is', code: 'identity protection' },
  es: { pinReset: 'Cambiamos su PIN', temporaryPin: 'Su PIN temporal es', code: 'Proteja su identidad' },
};

/**
 * The exposed categories as one phrase with the locale's list grammar, in
 * {@link DATA_CATEGORIES} order: "your name, phone number and account PIN", "su nombre, número
 * de teléfono y PIN de la cuenta"; the generic {@link NO_CATEGORY_PHRASES} wording when empty.
 * Values that are not data categories are ignored.
 */
export function exposurePhrase(locale: Locale, channel: Channel, exposed: readonly DataCategory[]): string {
  const table = CATEGORY_PHRASES[locale][channel];
  const items = DATA_CATEGORIES.filter((c) => exposed.includes(c)).map((c) => table[c]);
  const last = items.pop();
  if (last === undefined) return NO_CATEGORY_PHRASES[locale][channel];
  const possessive = locale === 'en' ? 'your' : 'su';
  if (items.length === 0) return `${possessive} ${last}`;
  // Spanish "y" becomes "e" before an /i/ sound ("nombre e IMEI"), but not before "hie"/"hia".
  const and = locale === 'en' ? 'and' : /^h?i(?![aeiouáéíóú])/i.test(last) ? 'e' : 'y';
  return `${possessive} ${items.join(', ')} ${and} ${last}`;
}

interface Strings {
  greeting(name?: string): string;
  subject(brand: string): string;
  reminderSubject(brand: string): string;
  reminder(brand: string): string;
  what(brand: string, exposure: string): string;
  pinReset: string;
  temporaryPin(pin: string): string;
  code(code: string, by: string): string;
  help(url: string, phone?: string): string;
}

/** The SMS lines: shorter, so that a notice naming every category still fits the segment budget. */
interface SmsStrings {
  what(brand: string, exposure: string): string;
  reminder(brand: string): string;
  pinReset: string;
  temporaryPin(pin: string): string;
  code(code: string, by: string): string;
  stop: string;
}

const STRINGS: Record<Locale, Strings> = {
  en: {
    greeting: (n) => (n ? `Dear ${n},` : 'Dear customer,'),
    subject: (b) => `${b}: important notice about your information`,
    reminderSubject: (b) => `${b}: reminder about your free identity protection`,
    reminder: (b) => `This is a reminder about the security notice ${b} sent you.`,
    what: (b, e) => `${b} identified unauthorized access to ${e}.`,
    pinReset: 'As a precaution we reset your PIN. Set a new one in the app or by calling care.',
    temporaryPin: (p) => `As a precaution we reset your PIN. Your temporary PIN is ${p}. Change it after you sign in.`,
    code: (c, by) => `You can enroll in 2 years of free identity protection with code ${c} by ${by}.`,
    help: (u, p) => (p ? `Details: ${u} or call ${p}` : `Details: ${u}`),
  },
  es: {
    greeting: (n) => (n ? `Estimado/a ${n}:` : 'Estimado/a cliente:'),
    subject: (b) => `${b}: aviso importante sobre su información`,
    reminderSubject: (b) => `${b}: recordatorio sobre su protección de identidad gratuita`,
    reminder: (b) => `Le recordamos el aviso de seguridad que ${b} le envió.`,
    what: (b, e) => `${b} detectó un acceso no autorizado a ${e}.`,
    pinReset: 'Cambiamos su PIN como precaución. Elija uno nuevo en la app o llamando a atención al cliente.',
    temporaryPin: (p) => `Cambiamos su PIN como precaución. Su PIN temporal es ${p}. Cámbielo al iniciar sesión.`,
    code: (c, by) => `Proteja su identidad gratis por 2 años: inscríbase con el código ${c} hasta el ${by}.`,
    help: (u, p) => (p ? `Detalles: ${u} o llame al ${p}` : `Detalles: ${u}`),
  },
};

// The Spanish SMS is GSM-7 throughout (see CATEGORY_PHRASES): "hubo un acceso" rather than
// "detectó", "clave" rather than "código", "entrar" rather than "iniciar sesión".
const SMS_STRINGS: Record<Locale, SmsStrings> = {
  en: {
    what: (b, e) => `${b} security notice: a data breach exposed ${e}.`,
    reminder: (b) => `${b} reminder about our security notice.`,
    pinReset: STRINGS.en.pinReset,
    temporaryPin: (p) => `As a precaution we reset your PIN. Your temporary PIN is ${p}; change it after you sign in.`,
    code: (c, by) => `Free identity protection for 2 years: enroll with code ${c} by ${by}.`,
    stop: 'Reply STOP to opt out.',
  },
  es: {
    what: (b, e) => `Aviso de seguridad de ${b}: hubo un acceso no autorizado a ${e}.`,
    reminder: (b) => `Recordatorio del aviso de seguridad de ${b}.`,
    pinReset: 'Cambiamos su PIN. Elija uno nuevo en la app o llame a servicio al cliente.',
    temporaryPin: (p) => `Cambiamos su PIN. Su PIN temporal es ${p}; elija otro al entrar.`,
    code: (c, by) => `Proteja su identidad 2 años gratis con la clave ${c} hasta el ${by}.`,
    stop: 'Responda STOP para darse de baja.',
  },
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** The remediation lines, each only for what was done to this account. */
function remediation(t: Pick<Strings, 'pinReset' | 'temporaryPin' | 'code'>, v: NoticeVars): string[] {
  const out: string[] = [];
  if (v.temporaryPin) out.push(t.temporaryPin(v.temporaryPin));
  else if (v.pinReset) out.push(t.pinReset);
  if (v.enrollmentCode && v.enrollBy) out.push(t.code(v.enrollmentCode, v.enrollBy));
  return out;
}

/**
 * Renders the breach notice for one channel and locale. Pure. It names exactly the categories in
 * `vars.exposed` and the remediation in `pinReset`, `temporaryPin` and `enrollmentCode` +
 * `enrollBy`, and nothing else.
 */
export function renderNotice(channel: Channel, locale: Locale, vars: NoticeVars): RenderedNotice {
  const t = STRINGS[locale];
  const exposure = exposurePhrase(locale, channel, vars.exposed);
  if (channel === 'sms') {
    const s = SMS_STRINGS[locale];
    const opening = vars.reminder ? s.reminder(vars.brand) : s.what(vars.brand, exposure);
    return { channel, body: [opening, ...remediation(s, vars), t.help(vars.helpUrl, vars.supportPhone), s.stop].join(' ') };
  }
  const body = [vars.reminder ? t.reminder(vars.brand) : t.what(vars.brand, exposure), ...remediation(t, vars), t.help(vars.helpUrl, vars.supportPhone), ...(vars.signOff ? [vars.signOff] : [])];
  const text = [t.greeting(vars.firstName), '', ...body].join('\n');
  const html = `<p>${escapeHtml(t.greeting(vars.firstName))}</p>\n${body.map((l) => `<p>${escapeHtml(l)}</p>`).join('\n')}`;
  return { channel, subject: vars.reminder ? t.reminderSubject(vars.brand) : t.subject(vars.brand), text, html };
}

/** Most accounts one consolidated notice names: a family plan's lines; a larger group is cut into notices of this many. */
export const MAX_GROUP_ACCOUNTS = 10;

/**
 * An account as a consolidated notice names it: the last four letters or digits of its id (the
 * only identifier an account row carries besides its contact points), never the whole id.
 */
export function maskedAccount(accountId: string): string {
  return accountId.replace(/[^A-Za-z0-9]/g, '').slice(-4);
}

/** What one account of a consolidated notice is told: its own exposed data and its own remediation. */
export interface GroupNoticeAccount extends Pick<NoticeVars, 'exposed' | 'pinReset' | 'temporaryPin' | 'enrollmentCode' | 'enrollBy'> {
  /** The masked account ({@link maskedAccount}). */
  readonly label: string;
}

/** The wave-wide parts of a consolidated notice. */
export type GroupNoticeBase = Pick<NoticeVars, 'brand' | 'helpUrl' | 'firstName' | 'reminder' | 'unsubscribeUrl' | 'supportPhone' | 'signOff'>;

/** Joins labels with the locale's list grammar: "0170, 0171 and 0172", "0170, 0171 y 0172". */
function labelList(locale: Locale, labels: readonly string[]): string {
  const items = [...labels];
  const last = items.pop() ?? '';
  if (items.length === 0) return last;
  return `${items.join(', ')} ${locale === 'en' ? 'and' : 'y'} ${last}`;
}

/** The consolidated lines. The Spanish SMS stays GSM-7: "cuenta(s) terminada(s) en", no accents. */
const GROUP_STRINGS: Record<Locale, Record<Channel, {
  opening(brand: string, list: string, reminder: boolean): string;
  block(labels: readonly string[], list: string): string;
}>> = {
  en: {
    sms: {
      opening: (b, l, r) => (r ? `${b} reminder about our security notice for the accounts ending in ${l}.` : `${b} security notice for the accounts ending in ${l}.`),
      block: (ls, l) => `${ls.length > 1 ? 'Accounts' : 'Account'} ${l}:`,
    },
    email: {
      opening: (b, l, r) => (r ? `This is a reminder about the security notice ${b} sent you about the accounts ending in ${l}.` : `We are writing about the accounts ending in ${l}, which share this contact.`),
      block: (ls, l) => `${ls.length > 1 ? 'Accounts ending in' : 'Account ending in'} ${l}:`,
    },
  },
  es: {
    sms: {
      opening: (b, l, r) => (r ? `Recordatorio del aviso de seguridad de ${b} para las cuentas terminadas en ${l}.` : `Aviso de seguridad de ${b} para las cuentas terminadas en ${l}.`),
      block: (ls, l) => `${ls.length > 1 ? 'Cuentas' : 'Cuenta'} ${l}:`,
    },
    email: {
      opening: (b, l, r) => (r ? `Le recordamos el aviso de seguridad que ${b} le envió sobre las cuentas terminadas en ${l}.` : `Le escribimos sobre las cuentas terminadas en ${l}, que comparten este contacto.`),
      block: (ls, l) => `${ls.length > 1 ? 'Cuentas terminadas en' : 'Cuenta terminada en'} ${l}:`,
    },
  },
};

/** What the SMS says of one account's exposure inside a consolidated notice (the brand is in the opening). */
const GROUP_SMS_WHAT: Record<Locale, (exposure: string) => string> = {
  en: (e) => `a data breach exposed ${e}.`,
  es: (e) => `hubo un acceso no autorizado a ${e}.`,
};

/**
 * Renders one notice for several accounts that share a contact point (a family plan's lines on
 * one phone or email). It names every account, masked, in the opening; then, per account, exactly
 * that account's exposed categories and that account's remediation (its own temporary PIN, its own
 * code), so no category is said of an account that did not have it exposed. Accounts whose part
 * reads the same (no secret in it, same categories, same remediation) share one part ("Accounts
 * 0170 and 0171: …"). The locale is the one of the first account. Pure.
 */
export function renderGroupNotice(channel: Channel, locale: Locale, base: GroupNoticeBase, accounts: readonly GroupNoticeAccount[]): RenderedNotice {
  const g = GROUP_STRINGS[locale][channel];
  const t = STRINGS[locale];
  const s = SMS_STRINGS[locale];
  const reminder = base.reminder === true;
  // Each account's part without its label, then accounts with the same part share it.
  const parts = new Map<string, string[]>();
  for (const a of accounts) {
    const vars: NoticeVars = { ...base, ...a };
    const exposure = exposurePhrase(locale, channel, a.exposed);
    const what = reminder ? [] : [channel === 'sms' ? GROUP_SMS_WHAT[locale](exposure) : t.what(base.brand, exposure)];
    const text = [...what, ...remediation(channel === 'sms' ? s : t, vars)].join(' ');
    const labels = parts.get(text) ?? [];
    labels.push(a.label);
    parts.set(text, labels);
  }
  const all = labelList(locale, accounts.map((a) => a.label));
  const blocks = [...parts].filter(([text]) => text !== '').map(([text, labels]) => `${g.block(labels, labelList(locale, labels))} ${text}`);
  if (channel === 'sms') {
    return { channel, body: [g.opening(base.brand, all, reminder), ...blocks, t.help(base.helpUrl, base.supportPhone), s.stop].join(' ') };
  }
  const body = [g.opening(base.brand, all, reminder), ...blocks, t.help(base.helpUrl, base.supportPhone), ...(base.signOff ? [base.signOff] : [])];
  const text = [t.greeting(base.firstName), '', ...body].join('\n');
  const html = `<p>${escapeHtml(t.greeting(base.firstName))}</p>\n${body.map((l) => `<p>${escapeHtml(l)}</p>`).join('\n')}`;
  return { channel, subject: reminder ? t.reminderSubject(base.brand) : t.subject(base.brand), text, html };
}

/**
 * Why a value a wave puts into its notices (the carrier's name, a support phone or URL, the
 * sign-off) cannot go in, or undefined when it can. Such a value is said to every recipient
 * whatever was exposed, so it must not name a data category or a remediation (a sign-off "we
 * protect your SSN" would tell someone whose SSN did not leak that it did), nor carry markup,
 * braces or line breaks that could pass for the notice's own text.
 */
export function templateValueProblem(value: string): string | undefined {
  if (/[\p{Cc}<>{}]/u.test(value)) return 'must be one line without <, >, { or }';
  const lower = value.toLowerCase();
  for (const locale of Object.keys(CATEGORY_PHRASES) as Locale[]) {
    for (const channel of ['sms', 'email'] as const) {
      for (const [category, phrase] of Object.entries(CATEGORY_PHRASES[locale][channel])) {
        // Single words shared with everyday text ("name", "email") are matched as whole words.
        const re = new RegExp(`(^|[^\\p{L}])${phrase.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}])`, 'u');
        if (re.test(lower)) return `must not name a data category ("${phrase}" names ${category}): it would be said to everyone, whatever was exposed`;
      }
      if (lower.includes(NO_CATEGORY_PHRASES[locale][channel].toLowerCase())) return 'must not speak of the exposed information: the notice says that itself';
    }
    for (const phrase of Object.values(REMEDIATION_PHRASES[locale])) {
      if (lower.includes(phrase.toLowerCase())) return `must not speak of a remediation ("${phrase}"): the notice says that only when it was taken`;
    }
  }
  return undefined;
}

/** First word of a name, for a greeting. */
export function firstNameOf(name: string | undefined): string | undefined {
  const first = name?.trim().split(/\s+/)[0];
  return first ? first : undefined;
}
