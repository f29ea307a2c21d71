package rootless

import (
	"bufio"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// IDRange is a range of subordinate IDs from /etc/subuid or /etc/subgid.
type IDRange struct {
	Start, Size int
}

// subIDs returns the first range of the user (by name or numeric id) in a
// subordinate-ID file; ok is false if there is none.
func subIDs(r io.Reader, name string, id int) (IDRange, bool) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Split(strings.TrimSpace(s.Text()), ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.Itoa(id)) {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		size, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && size > 0 {
			return IDRange{Start: start, Size: size}, true
		}
	}
	return IDRange{}, false
}

// SubordinateIDs returns the calling user's subordinate uid and gid ranges,
// when both exist and the setuid helpers that can map them are installed.
func SubordinateIDs() (uids, gids IDRange, ok bool) {
	if _, err := lookPath("newuidmap"); err != nil {
		return uids, gids, false
	}
	if _, err := lookPath("newgidmap"); err != nil {
		return uids, gids, false
	}
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	uids, ok1 := readSubIDs("/etc/subuid", name, os.Getuid())
	gids, ok2 := readSubIDs("/etc/subgid", name, os.Getgid())
	return uids, gids, ok1 && ok2
}

func readSubIDs(path, name string, id int) (IDRange, bool) {
	f, err := os.Open(path)
	if err != nil {
		return IDRange{}, false
	}
	defer f.Close()
	return subIDs(f, name, id)
}
