package throttle

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestABurstThenTheRefillRate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := New(Defaults(), clk.now)
	for i := 0; i < 5; i++ {
		if !l.Allow("AKIA1", ClassRunInstances) {
			t.Fatalf("request %d of the burst of 5 refused", i+1)
		}
	}
	if l.Allow("AKIA1", ClassRunInstances) {
		t.Fatal("a sixth RunInstances within the same instant was allowed")
	}
	clk.advance(499 * time.Millisecond)
	if l.Allow("AKIA1", ClassRunInstances) {
		t.Fatal("allowed before a whole token refilled (2 per second)")
	}
	clk.advance(2 * time.Millisecond)
	if !l.Allow("AKIA1", ClassRunInstances) {
		t.Fatal("refused after half a second at 2 tokens per second")
	}
}

func TestBucketsAreSeparatePerKeyAndClass(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := New(Defaults(), clk.now)
	for i := 0; i < 5; i++ {
		l.Allow("AKIA1", ClassRunInstances)
	}
	if !l.Allow("AKIA2", ClassRunInstances) {
		t.Error("another key's bucket was emptied")
	}
	if !l.Allow("AKIA1", ClassDescribe) {
		t.Error("the describe bucket was emptied by RunInstances")
	}
}

func TestRefillNeverExceedsTheBurst(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := New(map[Class]Bucket{ClassMutating: {Burst: 3, Refill: 100}}, clk.now)
	clk.advance(time.Hour)
	n := 0
	for l.Allow("k", ClassMutating) {
		n++
	}
	if n != 3 {
		t.Errorf("after an idle hour %d requests passed, want the burst of 3", n)
	}
}

func TestClassOf(t *testing.T) {
	cases := map[string]struct {
		action   string
		mutating bool
		want     Class
	}{
		"RunInstances has its own bucket": {"RunInstances", true, ClassRunInstances},
		"other changes share one":         {"StopInstances", true, ClassMutating},
		"reads share the describe bucket": {"DescribeInstances", false, ClassDescribe},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ClassOf(tc.action, tc.mutating); got != tc.want {
				t.Errorf("ClassOf = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAClassWithoutABucketIsNotLimited(t *testing.T) {
	l := New(map[Class]Bucket{}, nil)
	for i := 0; i < 1000; i++ {
		if !l.Allow("k", ClassDescribe) {
			t.Fatal("refused without a bucket")
		}
	}
}

func TestIdleBucketsAreForgotten(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := New(Defaults(), clk.now)
	for i := 0; i < 5000; i++ {
		l.Allow(string(rune('a'+i%26))+time.Duration(i).String(), ClassDescribe)
	}
	clk.advance(time.Minute)
	l.Allow("trigger", ClassDescribe)
	if len(l.state) > 10 {
		t.Errorf("%d buckets kept after a minute idle", len(l.state))
	}
}
