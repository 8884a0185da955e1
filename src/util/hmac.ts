/**
 * HMAC-SHA256 as lowercase hex, from @noble/hashes. It is synchronous, unlike WebCrypto, whose
 * answers arrive from a thread pool at times no simulation controls; and it needs no key import
 * per call, which made session tokens the most expensive part of a session request.
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'

export const hmacSha256Hex = (key: string, message: string): string => bytesToHex(hmac(sha256, utf8ToBytes(key), utf8ToBytes(message)))
