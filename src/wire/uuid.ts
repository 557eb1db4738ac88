import { v7 } from 'uuid';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A new UUID v7 (time-ordered, RFC 9562), lowercase. Entry ids are never v4. */
export function uuidv7(): string {
  return v7();
}

export function isUuidV7(value: string): boolean {
  return UUID_V7.test(value);
}

const UUID_ANY = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export function isUuid(value: string): boolean {
  return UUID_ANY.test(value);
}
