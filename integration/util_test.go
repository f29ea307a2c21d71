//go:build integration

package integration

import (
	"regexp"
	"strconv"
)

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
