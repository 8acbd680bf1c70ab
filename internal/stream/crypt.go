package stream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// HKDF info strings; each derived value has its own so none can stand in for
// another.
const (
	infoChunkKey = "keeper stream v1 chunk key"
	infoKeyCheck = "keeper stream v1 key check"
)

// sealer encrypts or decrypts the chunks of one stream.
type sealer struct {
	aead cipher.AEAD
	// headerSum is SHA-256 over the header as stored; it goes into every
	// chunk's additional data, binding the header to the chunks.
	headerSum [sha256.Size]byte
	nonce     [12]byte
	ad        [sha256.Size + 8 + 5]byte
}

// deriveKeys returns the per-stream chunk key and the key check value for
// hostKey and salt.
func deriveKeys(hostKey, salt []byte) (chunkKey, check []byte, err error) {
	chunkKey, err = hkdf.Key(sha256.New, hostKey, salt, infoChunkKey, KeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("keeper: deriving stream key: %w", err)
	}
	check, err = hkdf.Key(sha256.New, hostKey, salt, infoKeyCheck, keyCheckSize)
	if err != nil {
		return nil, nil, fmt.Errorf("keeper: deriving stream key check: %w", err)
	}
	return chunkKey, check, nil
}

// checkKeyMatches reports whether check is the key check value stored in the
// header, in constant time.
func checkKeyMatches(check, stored []byte) bool {
	return subtle.ConstantTimeCompare(check, stored) == 1
}

func newSealer(chunkKey, header []byte) (*sealer, error) {
	block, err := aes.NewCipher(chunkKey)
	if err != nil {
		return nil, fmt.Errorf("keeper: stream cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keeper: stream cipher: %w", err)
	}
	return &sealer{aead: aead, headerSum: sha256.Sum256(header)}, nil
}

// prepare sets the nonce and additional data for chunk seq; meta is the raw
// length and flags bytes of the chunk prefix.
func (s *sealer) prepare(seq uint64, meta []byte) {
	binary.BigEndian.PutUint64(s.nonce[4:], seq)
	copy(s.ad[:], s.headerSum[:])
	binary.LittleEndian.PutUint64(s.ad[sha256.Size:], seq)
	copy(s.ad[sha256.Size+8:], meta)
}

// seal encrypts plaintext in place and returns it with the tag appended.
func (s *sealer) seal(seq uint64, meta, plaintext []byte) []byte {
	s.prepare(seq, meta)
	return s.aead.Seal(plaintext[:0], s.nonce[:], plaintext, s.ad[:])
}

// open decrypts ciphertext in place.
func (s *sealer) open(seq uint64, meta, ciphertext []byte) ([]byte, error) {
	s.prepare(seq, meta)
	return s.aead.Open(ciphertext[:0], s.nonce[:], ciphertext, s.ad[:])
}
