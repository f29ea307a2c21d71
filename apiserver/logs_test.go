package apiserver

import (
	"math"
	"net/url"
	"testing"
	"time"

	"podbox.dev/podbox/supervisor"
)

func TestLogOptions(t *testing.T) {
	type LogOptions = supervisor.LogOptions
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		query   string
		want    LogOptions
		wantErr string
	}{
		{"", LogOptions{TailLines: -1}, ""},
		{"container=side&follow=true&timestamps=true&previous=true&tailLines=5",
			LogOptions{Container: "side", Follow: true, Timestamps: true, Previous: true, TailLines: 5}, ""},
		{"sinceSeconds=90", LogOptions{TailLines: -1, SinceTime: now.Add(-90 * time.Second)}, ""},
		{"sinceSeconds=9223372036854775807", LogOptions{TailLines: -1, SinceTime: now.Add(-time.Duration(math.MaxInt64/time.Second) * time.Second)}, ""},
		{"sinceTime=2026-11-22T07:30:00Z", LogOptions{TailLines: -1, SinceTime: time.Date(2026, 11, 22, 7, 30, 0, 0, time.UTC)}, ""},
		{"sinceTime=2026-11-22T09:30:00.5%2B02:00", LogOptions{TailLines: -1, SinceTime: time.Date(2026, 11, 22, 7, 30, 0, 5e8, time.UTC)}, ""},
		{"limitBytes=1024", LogOptions{TailLines: -1, LimitBytes: 1024}, ""},
		{"tailLines=-1", LogOptions{}, "tailLines must be a non-negative number"},
		{"tailLines=x", LogOptions{}, "tailLines must be a non-negative number"},
		{"sinceSeconds=0", LogOptions{}, "sinceSeconds must be a number greater than 0"},
		{"sinceSeconds=ten", LogOptions{}, "sinceSeconds must be a number greater than 0"},
		{"sinceTime=yesterday", LogOptions{}, `sinceTime must be an RFC3339 time, not "yesterday"`},
		{"sinceSeconds=5&sinceTime=2026-11-22T07:30:00Z", LogOptions{}, "at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{"limitBytes=0", LogOptions{}, "limitBytes must be a number greater than 0"},
		{"limitBytes=-3", LogOptions{}, "limitBytes must be a number greater than 0"},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := logOptions(q, now)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%q: error %v, want %q", tc.query, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.query, err)
			continue
		}
		if !got.SinceTime.Equal(tc.want.SinceTime) {
			t.Errorf("%q: since %v, want %v", tc.query, got.SinceTime, tc.want.SinceTime)
		}
		got.SinceTime, tc.want.SinceTime = time.Time{}, time.Time{}
		if got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.query, got, tc.want)
		}
	}
}
