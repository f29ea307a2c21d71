package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ResolveUser turns an image USER ("", "1000", "1000:1000", "app", "app:staff")
// into numeric ids, looking names up in the image's /etc/passwd and
// /etc/group the way container runtimes do. A numeric uid with no group takes
// the user's primary group from /etc/passwd, or 0.
func ResolveUser(rootfs, user string) (uid, gid uint32, err error) {
	if user == "" {
		return 0, 0, nil
	}
	name, group, hasGroup := strings.Cut(user, ":")
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return 0, 0, err
	}
	defer root.Close()
	u, primary, err := lookup(root, "etc/passwd", name, 2, 3)
	if err != nil {
		return 0, 0, fmt.Errorf("image user %q: %w", user, err)
	}
	uid, gid = u, primary
	if hasGroup {
		if gid, _, err = lookup(root, "etc/group", group, 2, -1); err != nil {
			return 0, 0, fmt.Errorf("image user %q: %w", user, err)
		}
	}
	return uid, gid, nil
}

// lookup finds name (or a number) in a colon-separated database and returns
// the id in column idCol and, if extraCol >= 0, the number in extraCol.
func lookup(root *os.Root, file, name string, idCol, extraCol int) (uint32, uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		// Numeric ids need no entry; use the entry for the primary group if any.
		id := uint32(n)
		extra := uint32(0)
		if extraCol >= 0 {
			if _, e, err := scan(root, file, func(f []string) bool { return f[idCol] == name }, idCol, extraCol); err == nil {
				extra = e
			}
		}
		return id, extra, nil
	}
	id, extra, err := scan(root, file, func(f []string) bool { return f[0] == name }, idCol, extraCol)
	if err != nil {
		return 0, 0, fmt.Errorf("no %q in the image's /%s", name, file)
	}
	return id, extra, nil
}

func scan(root *os.Root, file string, match func([]string) bool, idCol, extraCol int) (uint32, uint32, error) {
	f, err := root.Open(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) <= max(idCol, extraCol) || !match(fields) {
			continue
		}
		id, err := strconv.ParseUint(fields[idCol], 10, 32)
		if err != nil {
			continue
		}
		var extra uint64
		if extraCol >= 0 {
			extra, _ = strconv.ParseUint(fields[extraCol], 10, 32)
		}
		return uint32(id), uint32(extra), nil
	}
	return 0, 0, fmt.Errorf("not found")
}
