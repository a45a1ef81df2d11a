export { createSmtpEmailSender, type SmtpEmailSender, type SmtpEmailSenderOptions } from './email-sender.js';
export { mapSmtpError, type SmtpErrorContext } from './errors.js';
