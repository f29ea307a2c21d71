package main

import "testing"

func TestCheckCgroupName(t *testing.T) {
	for _, ok := range []string{"3db359259e8c4b4d-main-0", "a.b_c+d"} {
		if err := checkCgroupName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "a b"} {
		if err := checkCgroupName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
