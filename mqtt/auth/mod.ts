/**
 * Authentication (password file, anonymous) and topic ACLs.
 *
 * @module
 */

export * from "./types.ts";
export {
  createAnonymousAuthenticator,
  createPasswordFileAuthenticator,
  type PasswordFileAuthenticator,
  type PasswordFileAuthenticatorOptions,
} from "./passwordAuthenticator.ts";
export { createJwtAuthenticator, type JwtAuthenticatorOptions } from "./jwtAuthenticator.ts";
export {
  type CertificateAuthenticatorOptions,
  createCertificateAuthenticator,
} from "./certificateAuthenticator.ts";
export { addUser, removeUser } from "./passwordFile.ts";
export { hashPassword } from "./passwordHash.ts";
export {
  PASSWD_USAGE,
  type PasswdIo,
  readPasswordFromEnvOrStdin,
  runPasswdCommand,
} from "./passwdCommand.ts";
export {
  type Acl,
  type AclAction,
  type AclConfig,
  type AclContext,
  type AclRule,
  createAcl,
  parseAclConfig,
} from "./acl.ts";
