package audit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogWritesOneJSONLinePerRecordEvenConcurrently(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = l.Log(Record{Time: time.Unix(0, 0).UTC(), Account: "123456789012", Action: "RunInstances", Result: "OK"})
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, line := range lines {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Action != "RunInstances" {
			t.Fatalf("line %q: %v", line, err)
		}
	}
}

func TestResourceIDsKeepOnlyIDs(t *testing.T) {
	got := ResourceIDs("i-0123456789abcdef0", "I2Nsb3VkLWNvbmZpZw==", "hunter2", "ami-0123456789abcdef0", "i-0123456789abcdef0", "vol-12345678", "key-")
	want := []string{"ami-0123456789abcdef0", "i-0123456789abcdef0", "vol-12345678"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ResourceIDs = %v, want %v", got, want)
	}
}
