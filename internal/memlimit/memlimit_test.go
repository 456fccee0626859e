package memlimit

import "testing"

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
