package protocol

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Namespace is the XML namespace of every EC2 response of API version 2016-11-15.
const Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// APIVersion is the only EC2 API version Koala speaks.
const APIVersion = "2016-11-15"

// Meta is embedded first in every response body: EC2 puts the lowercase requestId
// before any member.
type Meta struct {
	RequestID string `xml:"requestId"`
}

func (m *Meta) setRequestID(id string) { m.RequestID = id }

// Body is what a handler answers with: a pointer to a struct embedding Meta, whose
// other fields carry their EC2 XML names.
type Body interface{ setRequestID(string) }

// Return is the response of the many actions that answer only <return>true</return>
// (DeleteVolume, RebootInstances, CreateTags, ...).
type Return struct {
	Meta
	Return bool `xml:"return"`
}

// OK is a Return of true.
func OK() *Return { return &Return{Return: true} }

// NewRequestID returns a request ID in the UUID form EC2 uses.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40 // version 4
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Marshal encodes a successful response: <{Action}Response xmlns=...> with requestId
// first, then the body's members.
func Marshal(action, requestID string, body Body) ([]byte, error) {
	body.setRequestID(requestID)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	start := xml.StartElement{
		Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: Namespace}},
	}
	if err := enc.EncodeElement(body, start); err != nil {
		return nil, fmt.Errorf("encoding %s response: %w", action, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type errorResponse struct {
	XMLName   xml.Name    `xml:"Response"`
	Errors    []errorItem `xml:"Errors>Error"`
	RequestID string      `xml:"RequestID"`
}

type errorItem struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// MarshalError encodes an error response. Note RequestID with a capital D, as EC2 sends.
func MarshalError(e *Error, requestID string) []byte {
	out, err := xml.Marshal(errorResponse{Errors: []errorItem{{Code: e.Code, Message: e.Message}}, RequestID: requestID})
	if err != nil {
		// Only strings are encoded; encoding/xml escapes any content, so this cannot fail.
		panic(err)
	}
	return append([]byte(xml.Header), out...)
}

// Write sends one response: status, Content-Type, Content-Length and body, once.
func Write(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError sends an EC2 error with the request ID (and Retry-After when the client
// should back off).
func WriteError(w http.ResponseWriter, e *Error, requestID string) {
	w.Header().Set("x-amzn-RequestId", requestID)
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	Write(w, e.Status, MarshalError(e, requestID))
}

// TimeFormat is how EC2 writes timestamps: UTC, milliseconds, Z.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime renders t as EC2 does; the zero time renders empty.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}
