package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"hash/fnv"
)

// Pagination tokens say where the next page starts (the sort key of the last item
// returned) and are bound to the request they continue: a token used with other
// filters, or one the server never issued, is InvalidPaginationToken. They carry no
// secret: forging one only lets a client skip ahead in its own results.
//
// Layout: version byte, 8-byte digest of the request's scope, the key, 4-byte CRC-32
// of all of it; base64url without padding.

const tokenVersion = 1

// EncodeToken makes the NextToken for a page that ended at lastKey.
func EncodeToken(scope, lastKey string) string {
	var b bytes.Buffer
	b.WriteByte(tokenVersion)
	_ = binary.Write(&b, binary.BigEndian, scopeDigest(scope))
	b.WriteString(lastKey)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(b.Bytes()))
	return base64.RawURLEncoding.EncodeToString(b.Bytes())
}

// DecodeToken returns the key a page continues after, checking that the token was
// issued for the same scope.
func DecodeToken(scope, token string) (string, error) {
	bad := Errorf(CodeInvalidPaginationToken, "The pagination token is invalid or does not belong to this request")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 1+8+4 {
		return "", bad
	}
	body, sum := raw[:len(raw)-4], binary.BigEndian.Uint32(raw[len(raw)-4:])
	if crc32.ChecksumIEEE(body) != sum || body[0] != tokenVersion {
		return "", bad
	}
	if binary.BigEndian.Uint64(body[1:9]) != scopeDigest(scope) {
		return "", bad
	}
	return string(body[9:]), nil
}

func scopeDigest(scope string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(scope))
	return h.Sum64()
}

// Page returns the page of items (sorted by key, ascending) that follows the token,
// at most max long (max <= 0: all of them), and the token of the next page, "" when
// this page is the last.
func Page[T any](items []T, key func(*T) string, max int, token, scope string) ([]T, string, error) {
	start := 0
	if token != "" {
		after, err := DecodeToken(scope, token)
		if err != nil {
			return nil, "", err
		}
		// First item whose key is past the one the previous page ended at.
		lo, hi := 0, len(items)
		for lo < hi {
			mid := (lo + hi) / 2
			if key(&items[mid]) <= after {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		start = lo
	}
	rest := items[start:]
	if max <= 0 || len(rest) <= max {
		return rest, "", nil
	}
	page := rest[:max]
	return page, EncodeToken(scope, key(&page[max-1])), nil
}
