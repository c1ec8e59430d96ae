/**
 * `jose` (JWT signing and verification), pinned in this one place.
 *
 * @module
 */
export { errors, importPKCS8, importSPKI, jwtVerify, SignJWT } from "npm:jose@6.2.18";
