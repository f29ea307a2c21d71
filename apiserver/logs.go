package apiserver

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"

	"podbox.dev/podbox/supervisor"
)

// logOptions reads the query parameters of the pods/log subresource
// (container, follow, timestamps, previous, tailLines, sinceSeconds,
// sinceTime, limitBytes) with the API's validation rules. sinceSeconds is
// counted back from now.
func logOptions(q url.Values, now time.Time) (supervisor.LogOptions, error) {
	opts := supervisor.LogOptions{
		Container:  q.Get("container"),
		Follow:     q.Get("follow") == "true",
		Timestamps: q.Get("timestamps") == "true",
		Previous:   q.Get("previous") == "true",
		TailLines:  -1,
	}
	if t := q.Get("tailLines"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			return opts, errors.New("tailLines must be a non-negative number")
		}
		opts.TailLines = n
	}
	secs, since := q.Get("sinceSeconds"), q.Get("sinceTime")
	if secs != "" && since != "" {
		return opts, errors.New("at most one of `sinceTime` or `sinceSeconds` may be specified")
	}
	if secs != "" {
		n, err := strconv.ParseInt(secs, 10, 64)
		if err != nil || n <= 0 {
			return opts, errors.New("sinceSeconds must be a number greater than 0")
		}
		// Far-past values would overflow a Duration; any date before the
		// log began is the same.
		n = min(n, int64(math.MaxInt64/time.Second))
		opts.SinceTime = now.Add(-time.Duration(n) * time.Second)
	}
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return opts, fmt.Errorf("sinceTime must be an RFC3339 time, not %q", since)
		}
		opts.SinceTime = t
	}
	if l := q.Get("limitBytes"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n <= 0 {
			return opts, errors.New("limitBytes must be a number greater than 0")
		}
		opts.LimitBytes = n
	}
	return opts, nil
}
