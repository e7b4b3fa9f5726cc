import { base58btc } from 'multiformats/bases/base58';

// A libp2p Ed25519 peer ID is the identity multihash of the protobuf public key:
// 0x00 0x24 (identity, 36 bytes) 0x08 0x01 (KeyType Ed25519) 0x12 0x20 (Data, 32 bytes) <key>.
const ED25519_PEER_PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/** The raw Ed25519 public key inside a peer ID (`12D3KooW…`), or undefined for any other kind. */
export function ed25519KeyOfPeer(peerId: string): Uint8Array | undefined {
  if (!/^12D3KooW[1-9A-HJ-NP-Za-km-z]{30,60}$/.test(peerId)) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = base58btc.baseDecode(peerId);
  } catch {
    return undefined;
  }
  if (bytes.length !== 38 || ED25519_PEER_PREFIX.some((byte, i) => bytes[i] !== byte)) return undefined;
  return bytes.slice(ED25519_PEER_PREFIX.length);
}

/** True when `signature` is the peer's Ed25519 signature of `message`. */
export async function verifyPeerSignature(peerId: string, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const raw = ed25519KeyOfPeer(peerId);
  if (!raw || signature.length !== 64) return false;
  const key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}
