/**
 * `libphonenumber-js` (phone numbers by the rules of each country), pinned in this one
 * place, with its `max` metadata (see `lib/send/phone_number.ts` for why).
 *
 * @module
 */
export { default as phoneMetadata } from "npm:libphonenumber-js@1.13.16/max/metadata";
export {
  type CountryCode,
  isSupportedCountry,
  parsePhoneNumberWithError,
  type PhoneNumber,
  validatePhoneNumberLength,
} from "npm:libphonenumber-js@1.13.16/max";
