"""Permission cases for tests/mount/perms.sh, run as a user other than root
in ROOT (a plain folder or a mount), one phase at a time:

  files   modes of a file: opens, truncate, times, xattrs, access(2), exec
  setup   folders of every mode with entries in them, for `dirs`
  dirs    lookups, listings and changes of names in those folders

Each case prints one line, "name: ok [value]" or "name: ERRNO"; the caller
compares the lines of the two folders.
"""

import errno
import os
import shutil
import subprocess
import sys

ROOT, PHASE = sys.argv[1], sys.argv[2]
os.chdir(ROOT)
P = "prompts"


def case(name, fn):
    try:
        r = fn()
        if r is False:
            out = "false"
        elif r is None or r is True:
            out = "ok"
        else:
            out = "ok %s" % (r,)
    except OSError as e:
        out = errno.errorcode.get(e.errno, str(e.errno))
    print("%s: %s" % (name, out), flush=True)


def put(path, data=b"text\n", flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def get(path):
    with open(path, "rb") as f:
        return f.read().decode().strip()


def opened(path, flags):
    os.close(os.open(path, flags))


def access(path):
    return "".join(c if os.access(path, m) else "-"
                   for c, m in (("r", os.R_OK), ("w", os.W_OK),
                                ("x", os.X_OK)))


def files():
    f = P + "/notes.txt"
    put(f, b"0123456789\n")
    case("record", lambda: put(P + "/a.yaml", b"k: v\n"))
    for mode in (0o000, 0o200, 0o400, 0o100, 0o040, 0o004, 0o600):
        os.chmod(f, 0o600)
        put(f, b"0123456789\n")
        os.chmod(f, mode)
        m = "%03o " % mode
        case(m + "stat", lambda: "%o" % (os.stat(f).st_mode & 0o7777))
        case(m + "access", lambda: access(f))
        case(m + "open r", lambda: opened(f, os.O_RDONLY))
        case(m + "open w", lambda: opened(f, os.O_WRONLY))
        case(m + "open rw", lambda: opened(f, os.O_RDWR))
        case(m + "open w append", lambda: opened(f, os.O_WRONLY | os.O_APPEND))
        case(m + "open mode 3", lambda: opened(f, os.O_ACCMODE))
        case(m + "creat existing",
             lambda: opened(f, os.O_WRONLY | os.O_CREAT))
        case(m + "truncate", lambda: os.truncate(f, 4))
        case(m + "content", lambda: get(f))
        case(m + "times now", lambda: os.utime(f))
        case(m + "times given", lambda: os.utime(f, (1000, 2000)))
        case(m + "mtime", lambda: int(os.stat(f).st_mtime) == 2000)
        case(m + "set xattr", lambda: os.setxattr(f, "user.k", b"v"))
        case(m + "get xattr", lambda: os.getxattr(f, "user.k").decode())
        case(m + "remove xattr", lambda: os.removexattr(f, "user.k"))
        case(m + "chmod", lambda: os.chmod(f, mode))
        case(m + "chgrp own", lambda: os.chown(f, -1, os.getgid()))
        case(m + "chgrp root", lambda: os.chown(f, -1, 0))
        case(m + "chown root", lambda: os.chown(f, 0, -1))
        # last: where it may, Linux truncates here and cccfs does not
        case(m + "open r trunc", lambda: opened(f, os.O_RDONLY | os.O_TRUNC))
    os.chmod(f, 0o644)
    case("record content", lambda: get(P + "/a.yaml"))
    # set-group-ID stays for a member of the group
    case("chmod g+s", lambda: os.chmod(f, 0o2755))
    case("mode g+s", lambda: "%o" % (os.stat(f).st_mode & 0o7777))
    # exec: the kernel wants an x bit, the daemon the caller's own
    tool = P + "/tool"
    shutil.copyfile("/bin/true", tool)
    for mode in (0o755, 0o100, 0o010, 0o001, 0o644, 0o700):
        os.chmod(tool, mode)
        case("%03o exec" % mode,
             lambda: subprocess.run([os.path.abspath(tool)]).returncode)


FOLDER_MODES = (0o700, 0o500, 0o300, 0o100, 0o600, 0o400, 0o200, 0o000)


def setup():
    os.mkdir(P + "/e")
    for mode in FOLDER_MODES:
        d = "%s/d%03o" % (P, mode)
        os.mkdir(d)
        for name in ("f.txt", "g.txt", "i.txt", "j.txt"):
            put(d + "/" + name, name.encode())
        os.mkdir(d + "/sub")
        os.mkdir(d + "/mv")
        put("%s/e/h%03o.txt" % (P, mode))
        os.chmod(d, mode)


def dirs():
    for mode in FOLDER_MODES:
        d = "%s/d%03o" % (P, mode)
        m = "%03o " % mode
        # listing first: names only, so that the lookups below are new
        case(m + "list", lambda: " ".join(sorted(os.listdir(d))))
        case(m + "access", lambda: access(d))
        case(m + "stat", lambda: os.stat(d + "/f.txt").st_size)
        case(m + "stat missing", lambda: os.stat(d + "/nope"))
        case(m + "read", lambda: get(d + "/f.txt"))
        case(m + "create", lambda: put(d + "/new.txt"))
        case(m + "mkdir", lambda: os.mkdir(d + "/nd"))
        case(m + "mkdir existing", lambda: os.mkdir(d + "/sub"))
        case(m + "symlink", lambda: os.symlink("f.txt", d + "/ln"))
        case(m + "unlink", lambda: os.unlink(d + "/g.txt"))
        case(m + "rmdir", lambda: os.rmdir(d + "/sub"))
        case(m + "rename within", lambda: os.rename(d + "/i.txt",
                                                    d + "/i2.txt"))
        case(m + "rename out", lambda: os.rename(d + "/j.txt",
                                                 P + "/e/j%03o.txt" % mode))
        case(m + "rename in", lambda: os.rename(P + "/e/h%03o.txt" % mode,
                                                d + "/h.txt"))
        case(m + "chdir", lambda: os.chdir(d))
        os.chdir(ROOT)
        case(m + "chmod", lambda: os.chmod(d, mode))
    # a folder moved to another needs write on itself (its ..)
    os.chmod(P + "/d700/mv", 0o500)
    case("move r-x folder across", lambda: os.rename(P + "/d700/mv",
                                                     P + "/e/mv"))
    case("move r-x folder within", lambda: os.rename(P + "/d700/mv",
                                                     P + "/d700/mv2"))
    case("e", lambda: " ".join(sorted(os.listdir(P + "/e"))))
    case("d700", lambda: " ".join(sorted(os.listdir(P + "/d700"))))


{"files": files, "setup": setup, "dirs": dirs}[PHASE]()
