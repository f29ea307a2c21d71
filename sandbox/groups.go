package sandbox

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// ImageGroups returns the groups the image's /etc/group lists user uid as a
// member of (by the user's name in the image's /etc/passwd). Container
// runtimes add them to the supplementary groups Kubernetes asks for: the
// default supplementalGroupsPolicy Merge. An image without those files, or
// a uid without a name, has none.
func ImageGroups(rootfs string, uid uint32) []uint32 {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil
	}
	defer root.Close()
	name := ""
	eachEntry(root, "etc/passwd", func(f []string) bool {
		if len(f) > 2 && f[2] == strconv.FormatUint(uint64(uid), 10) {
			name = f[0]
			return false
		}
		return true
	})
	if name == "" {
		return nil
	}
	var out []uint32
	eachEntry(root, "etc/group", func(f []string) bool {
		if len(f) < 4 {
			return true
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == name {
				if g, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					out = append(out, uint32(g))
				}
				break
			}
		}
		return true
	})
	return out
}

// eachEntry calls f with the fields of every line of a colon-separated
// database in root until f returns false.
func eachEntry(root *os.Root, file string, f func([]string) bool) {
	fh, err := root.Open(file)
	if err != nil {
		return
	}
	defer fh.Close()
	s := bufio.NewScanner(fh)
	for s.Scan() {
		if !f(strings.Split(s.Text(), ":")) {
			return
		}
	}
}
