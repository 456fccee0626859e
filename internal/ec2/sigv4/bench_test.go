package sigv4

import (
	"context"
	"testing"
)

// BenchmarkVerify checks the signature of a DescribeInstances POST as the AWS SDKs
// send it: parsing, canonical request, signing key and comparison.
func BenchmarkVerify(b *testing.B) {
	req, body := sign(b, defaultSigning())
	v := koalaVerifier(serverTime)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, req, body); err != nil {
			b.Fatal(err)
		}
	}
}
