package protocol

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

type testBody struct {
	Meta
	Return bool     `xml:"return"`
	Items  []string `xml:"itemSet>item"`
}

func TestMarshalPutsRequestIDFirstInTheActionElement(t *testing.T) {
	out, err := Marshal("StopInstances", "req-1", &testBody{Return: true, Items: []string{"a<b"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<StopInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId><return>true</return><itemSet><item>a&lt;b</item></itemSet></StopInstancesResponse>`
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestMarshalErrorUsesCapitalRequestID(t *testing.T) {
	out := string(MarshalError(Errorf(CodeInvalidInstanceIDNotFound, "The instance ID 'i-1' does not exist"), "req-2"))
	for _, part := range []string{"<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>", "<Message>The instance ID &#39;i-1&#39; does not exist</Message>", "<RequestID>req-2</RequestID></Response>"} {
		if !strings.Contains(out, part) {
			t.Errorf("error XML %s lacks %s", out, part)
		}
	}
}

func TestRequestIDIsAUUID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewRequestID(), NewRequestID()
	if !re.MatchString(a) || a == b {
		t.Errorf("request IDs %q, %q", a, b)
	}
}

func TestFormatTime(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.FixedZone("x", 3600))
	if got := FormatTime(ts); got != "2026-01-02T02:04:05.678Z" {
		t.Errorf("FormatTime = %s", got)
	}
	if FormatTime(time.Time{}) != "" {
		t.Error("zero time not empty")
	}
}

func TestPaginationTokens(t *testing.T) {
	tok := EncodeToken("scope-a", "i-0123")
	if k, err := DecodeToken("scope-a", tok); err != nil || k != "i-0123" {
		t.Fatalf("round trip: %q %v", k, err)
	}
	cases := map[string]struct{ scope, token string }{
		"a token of another request":  {"scope-b", tok},
		"a token that is not base64":  {"scope-a", "!!!"},
		"a truncated token":           {"scope-a", tok[:len(tok)-3]},
		"a token with a flipped byte": {"scope-a", flip(tok)},
		"an empty token":              {"scope-a", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeToken(tc.scope, tc.token)
			if err == nil || err.(*Error).Code != CodeInvalidPaginationToken {
				t.Errorf("DecodeToken = %v, want InvalidPaginationToken", err)
			}
		})
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func TestPageWalksEveryItemOnceAndEndsWithoutToken(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	key := func(s *string) string { return *s }
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := Page(items, key, 2, token, "scope")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			if pages != 2 {
				t.Errorf("took %d pages, want 3", pages+1)
			}
			break
		}
		token = next
	}
	if strings.Join(got, "") != "abcde" {
		t.Errorf("walked %v", got)
	}
	if _, next, _ := Page(items, key, 5, "", "scope"); next != "" {
		t.Error("a page that holds the rest exactly must not return a token")
	}
	if _, _, err := Page(items, key, 2, EncodeToken("other", "b"), "scope"); err == nil {
		t.Error("a token of another scope was accepted")
	}
}
