package memlimit

import (
	"runtime/debug"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLimitIsNinetyPercentOfTheContainersUnlessGOMEMLIMITIsSet(t *testing.T) {
	for name, tc := range map[string]struct {
		env     map[string]string
		want    int64
		wantErr bool
	}{
		"512Mi":                     {env: map[string]string{EnvVar: "536870912"}, want: 483183820},
		"unset":                     {env: map[string]string{}, want: 0},
		"GOMEMLIMIT wins":           {env: map[string]string{EnvVar: "536870912", "GOMEMLIMIT": "300MiB"}, want: 0},
		"not a number":              {env: map[string]string{EnvVar: "512Mi"}, wantErr: true},
		"zero":                      {env: map[string]string{EnvVar: "0"}, wantErr: true},
		"surrounded by white space": {env: map[string]string{EnvVar: " 1000\n"}, want: 900},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Limit(env(tc.env))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("limit %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTheGCTargetIsSetUnlessGOGCIs(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if got := ApplyGCPercent(env(map[string]string{}), CacheGCPercent); got != CacheGCPercent {
		t.Errorf("target %d, want %d", got, CacheGCPercent)
	}
	if now := debug.SetGCPercent(100); now != CacheGCPercent {
		t.Errorf("the runtime's target is %d, want %d", now, CacheGCPercent)
	}
	// With GOGC set the runtime's own reading (here 100) stays.
	if got := ApplyGCPercent(env(map[string]string{"GOGC": "100"}), CacheGCPercent); got != 100 {
		t.Errorf("with GOGC set the target is %d, want the runtime's 100", got)
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Errorf("with GOGC set the runtime's target became %d", now)
	}
}
