"""Real mail servers writing their own delivery reports for the bounce corpus: each is started
in a sandbox (tests/mtasandbox.py) on 127.0.0.1, handed the scenarios of
tests/bounce_scenarios.py, and the reports it mails back to bounces@digest.test are collected,
named after the scenario that caused them."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digest.demo import free_port

from . import bounce_scenarios as sc
from . import mtasandbox
from .localnet import wait_for_port

LOCAL = "example.org"
# Where nothing listens: a loopback address of its own, so that a server that stops trying a
# host after a refused connection (OpenSMTPD does, per address) still reaches the remote one.
CLOSED = "127.0.0.2"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One message to send: its name, recipients, and the DSN notify option."""

    name: str
    recipients: tuple[str, ...]
    notify: str = ""


def remote_scenarios() -> list[Scenario]:
    """One message per refusal of the remote server, and one with two refused recipients."""
    found = [Scenario(f"remote-{local}", (f"{local}@{sc.REMOTE}",)) for local in sc.REFUSALS]
    found.append(
        Scenario(
            "remote-two-refused", (f"gmail-nouser@{sc.REMOTE}", f"plain-mailboxfull@{sc.REMOTE}")
        )
    )
    return found


# Failures a server meets on its own side, by name (each server takes those it can stage).
LOCAL_SCENARIOS = (
    Scenario("local-unknown-user", (f"nobody-here@{LOCAL}",)),
    Scenario("local-disabled", (f"olduser@{LOCAL}",)),
    Scenario("local-moved", (f"moved@{LOCAL}",)),
    Scenario("local-mailbox-full", (f"grace@{LOCAL}",)),
    Scenario("local-one-of-two", (f"ada@{LOCAL}", f"ghost@{LOCAL}")),
    Scenario("domain-not-found", ("someone@nosuch.test",)),
    Scenario("domain-refuses-connections", ("someone@closed.test",)),
    Scenario("delivered-with-receipt", (f"ada@{LOCAL}",), "SUCCESS,FAILURE"),
    Scenario("relayed-with-receipt", (f"someone@{sc.REMOTE}",), "SUCCESS,FAILURE"),
)
# What a server is asked in its second run, which waits for the warnings of mail it retries.
DELAYED_SCENARIOS = [
    Scenario("delayed-remote-greylist", (f"plain-greylist@{sc.REMOTE}",)),
    Scenario("delayed-refused-connection", ("someone@closed.test",)),
]


def scenarios_of(*local: str) -> list[Scenario]:
    """The named local scenarios and every remote one."""
    return [s for s in LOCAL_SCENARIOS if s.name in local] + remote_scenarios()


def _places(folder: Path, port: int, remote: int) -> dict[str, object]:
    """What every server's configuration names: its folder and port, the local domain, the
    remote server and the address where nothing listens."""
    return {
        "root": folder, "local": LOCAL, "port": port, "remote": remote,
        "closed": free_port(), "closed_host": CLOSED, "remote_domain": sc.REMOTE,
    }  # fmt: skip


def _config(path: Path, text: str) -> Path:
    """A server's configuration file, readable by the user it runs as."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    return path


def _fed(box: mtasandbox.Sandbox, port: int, scenarios: list[Scenario], box_in: Path) -> list[Path]:
    """Hand the scenarios' messages to the server over SMTP; its reports once all came (or
    whatever came in time) from the Maildir folder `box_in`."""
    wait_for_port(port, "the mail server")
    for scenario in scenarios:
        sc.send(port, scenario.name, list(scenario.recipients), scenario.notify)
    return box.wait_for_files(box_in, len(scenarios))


def _collected(handler: sc.Refuser, count: int, folder: Path) -> list[Path]:
    """The reports the remote server accepted for the sender (once `count` came, or whatever
    came in time), each written to a file of `folder`."""
    wait_until(lambda: len(handler.received) >= count)
    folder.mkdir(exist_ok=True)
    for number, data in enumerate(list(handler.received)):
        (folder / f"{number:03}.eml").write_bytes(data)
    return sorted(folder.glob("*.eml"))


def _named(reports: list[Path], scenarios: list[Scenario]) -> dict[str, bytes]:
    """Each report under the name of the scenario whose message it is about (its Subject tag
    or Message-ID, else a recipient it names). A server that writes one report per recipient
    names the first recipient in the first; each other one is named after the recipient it
    names first, "<scenario>.<local part>", so a name means the same report on every run."""
    by_name = {s.name: s for s in scenarios}
    found: dict[str, list[bytes]] = {}
    for path in reports:
        data = path.read_bytes()
        text = data.decode("latin-1")
        tag = re.search(r"<([\w-]+)\.corpus@digest\.test>|papers \[([\w-]+)\]", text)
        name = (tag.group(1) or tag.group(2)) if tag else ""
        if not name:
            name = next(
                (s.name for s in scenarios if any(r in text for r in s.recipients)), "unknown"
            )
        found.setdefault(name, []).append(data)
    named: dict[str, bytes] = {}
    for name, datas in found.items():
        recipients = by_name[name].recipients if name in by_name else ()
        for data in datas:
            about = _first_named(data.decode("latin-1"), recipients)
            first = len(datas) == 1 or about in ("", *recipients[:1])
            key = name if first else f"{name}.{about.split('@')[0]}"
            named[key if key not in named else f"{key}.{len(named)}"] = data
    return named


def _first_named(text: str, recipients: tuple[str, ...]) -> str:
    """Which of the recipients the report's own words name first (before the copy of the
    message, whose To: names them all)."""
    own = text.split("Subject: Your daily papers", 1)[0]
    places = {r: own.find(r) for r in recipients if own.find(r) >= 0}
    return min(places, key=lambda r: places[r]) if places else ""


# -- Postfix ----------------------------------------------------------------------------------

POSTFIX_MAIN = """\
compatibility_level = 3.6
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_reject_unlisted_recipient = no
mail_owner = postfix
setgid_group = postdrop
maillog_file = /dev/stdout
alias_maps =
alias_database =
virtual_mailbox_domains = {local}, digest.test
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/vmailbox
virtual_uid_maps = static:3901
virtual_gid_maps = static:3901
message_size_limit = 40000
virtual_mailbox_limit = 40000
transport_maps = texthash:{root}/transport
smtp_host_lookup = native
smtp_dns_support_level = disabled
smtp_connect_timeout = 3s
maximal_queue_lifetime = {lifetime}
bounce_queue_lifetime = {lifetime}
delay_warning_time = {warning}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_tls_security_level = none
smtpd_tls_security_level = none
"""

POSTFIX_MASTER = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def postfix_scenarios() -> list[Scenario]:
    return scenarios_of(
        "local-unknown-user",
        "local-mailbox-full",
        "local-one-of-two",
        "domain-not-found",
        "domain-refuses-connections",
        "delivered-with-receipt",
    )


def _postfix_files(root: Path, port: int, remote: int) -> None:
    (root / "vmailbox").write_text(
        f"ada@{LOCAL} ada/\ngrace@{LOCAL} grace\n{sc.SENDER} bounces/\n", encoding="utf-8"
    )
    (root / "transport").write_text(
        f"{sc.REMOTE} smtp:[127.0.0.1]:{remote}\nclosed.test smtp:[{CLOSED}]:{free_port()}\n"
        "nosuch.test smtp:nosuch.test\n",
        encoding="utf-8",
    )
    mail = root / "mail"
    mail.mkdir(exist_ok=True)
    (mail / "grace").write_bytes(b"From x\n" + b"x" * 39_990 + b"\n")  # full at the limit
    for path in (mail, mail / "grace"):
        _own(path, 3901)


def _own(path: Path, uid: int) -> None:
    import os

    os.chown(path, uid, uid)


POSTFIX_START = """\
echo 'postfix:x:3900:3900::/nonexistent:/usr/sbin/nologin' >> /etc/passwd
echo 'vmail:x:3901:3901::/nonexistent:/usr/sbin/nologin' >> /etc/passwd
printf 'postfix:x:3900:\\npostdrop:x:3902:\\nvmail:x:3901:\\n' >> /etc/group
cp {root}/main.cf {root}/master.cf /etc/postfix/
chown -R postfix:postfix /var/lib/postfix
postfix start-fg > {root}/postfix.log 2>&1 &
"""


def postfix(cache: Path, folder: Path, delays: bool = False) -> tuple[str, dict[str, bytes]]:
    """Postfix's reports for its scenarios (bounces when `delays` is false; with it, the
    warnings it sends while still retrying). Returns the package version and the reports."""
    package = mtasandbox.fetch("postfix", cache)
    port = free_port()
    scenarios = DELAYED_SCENARIOS if delays else postfix_scenarios()
    with sc.remote_server() as (remote, _):
        _postfix_files(folder, port, remote)
        settings = {
            "root": folder, "local": LOCAL,
            "lifetime": "1d" if delays else "0", "warning": "1s" if delays else "0h",
        }  # fmt: skip
        (folder / "main.cf").write_text(POSTFIX_MAIN.format(**settings), encoding="utf-8")
        (folder / "master.cf").write_text(POSTFIX_MASTER.format(port=port), encoding="utf-8")
        script = POSTFIX_START.format(root=folder)
        with mtasandbox.sandbox(folder, (package,), script) as box:
            found = _fed(box, port, scenarios, folder / "mail" / "bounces" / "new")
    return package.version, _named(found, scenarios)


# -- OpenSMTPD --------------------------------------------------------------------------------

OPENSMTPD_CONF = """\
queue ttl {ttl}
bounce warn-interval {warn}
table vusers file:{root}/vusers
listen on 127.0.0.1 port {port}
action "inbox" maildir "{root}/mail/%{{rcpt.user}}" virtual <vusers>
action "full" mda "/bin/sh -c 'cat > /dev/null; echo Disk quota exceeded >&2; exit 73'" \
    virtual <vusers>
action "remote" relay host smtp://127.0.0.1:{remote}
action "closed" relay host smtp://{closed_host}:{closed}
action "dns" relay
match from any for rcpt-to "grace@{local}" action "full"
match from any for domain "{local}" action "inbox"
match from any for domain "digest.test" action "inbox"
match from any for domain "{remote_domain}" action "remote"
match from any for domain "closed.test" action "closed"
match from any for domain "nosuch.test" action "dns"
"""

OPENSMTPD_START = """\
echo 'opensmtpd:x:3910:3910::/var/lib/opensmtpd/empty:/usr/sbin/nologin' >> /etc/passwd
echo 'opensmtpq:x:3911:3911::/var/lib/opensmtpd/empty:/usr/sbin/nologin' >> /etc/passwd
echo 'vmail:x:3901:3901::{root}/mail:/usr/sbin/nologin' >> /etc/passwd
printf 'opensmtpd:x:3910:\\nopensmtpq:x:3911:\\nvmail:x:3901:\\n' >> /etc/group
mkdir -p /var/lib/opensmtpd/empty
smtpd -d -f {root}/smtpd.conf > {root}/opensmtpd.log 2>&1 &
"""


def opensmtpd_scenarios() -> list[Scenario]:
    return scenarios_of(
        "local-mailbox-full",
        "domain-not-found",
        "domain-refuses-connections",
        "delivered-with-receipt",
    )


def opensmtpd(cache: Path, folder: Path, delays: bool = False) -> tuple[str, dict[str, bytes]]:
    """OpenSMTPD's reports for its scenarios (see postfix). It refuses an unknown local user
    while the sender is still connected, so writes no report about one."""
    package = mtasandbox.fetch("opensmtpd", cache)
    port = free_port()
    scenarios = DELAYED_SCENARIOS if delays else opensmtpd_scenarios()
    mail = folder / "mail"
    mail.mkdir(parents=True, exist_ok=True)
    _own(mail, 3901)
    (folder / "vusers").write_text(
        f"ada@{LOCAL} vmail\ngrace@{LOCAL} vmail\n{sc.SENDER} vmail\n", encoding="utf-8"
    )
    with sc.remote_server() as (remote, _):
        settings = {
            **_places(folder, port, remote),
            "ttl": "1h" if delays else "20s", "warn": "1s" if delays else "1h",
        }  # fmt: skip
        _config(folder / "smtpd.conf", OPENSMTPD_CONF.format(**settings))
        with mtasandbox.sandbox(folder, (package,), OPENSMTPD_START.format(root=folder)) as box:
            found = _fed(box, port, scenarios, mail / "bounces" / "new")
    return package.version, _named(found, scenarios)


# -- DragonFly Mail Agent (dma) ---------------------------------------------------------------

DMA_START = """\
mkdir -p /etc/dma /var/spool/dma
printf 'SMARTHOST 127.0.0.1\\nPORT {remote}\\nMAILNAME mx.dma.test\\n' > /etc/dma/dma.conf
echo mx.dma.test > /etc/mailname
: > /etc/aliases
for message in {root}/outgoing/*.eml; do
    dma -f {sender} $(cat "${{message%.eml}}.opts") < "$message" || true
done
"""


def dma_scenarios() -> list[Scenario]:
    """dma writes a report only for a permanent failure (it retries a temporary one for
    days), so only the refusals that are 5xx."""
    return [s for s in remote_scenarios() if _permanent(s)]


def _permanent(scenario: Scenario) -> bool:
    refusal = sc.REFUSALS.get(scenario.recipients[0].split("@")[0])
    return refusal is None or refusal.reply.startswith("5")


def dma(cache: Path, folder: Path, delays: bool = False) -> tuple[str, dict[str, bytes]]:
    """dma's reports: it is not a server but the sendmail command of a host that sends
    everything to one smarthost (here the refusing remote server); each refused message
    is reported to the sender through that same smarthost, where the report is collected."""
    package = mtasandbox.fetch("dma", cache)
    scenarios = dma_scenarios()
    _outgoing(folder, scenarios, lambda s: [])
    with sc.remote_server() as (remote, handler):
        script = DMA_START.format(root=folder, remote=remote, sender=sc.SENDER)
        with mtasandbox.sandbox(folder, (package,), script):
            reports = _collected(handler, len(scenarios), folder / "reports")
    return package.version, _named(reports, scenarios)


def wait_until(done: Callable[[], bool], seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)


# -- Exim (the machine's own, run in a sandbox too so that no name server is asked) -----------

EXIM_CONF = """\
primary_hostname = mx.exim.test
domainlist local_domains = {local} : digest.test
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
exim_user = Debian-exim
exim_group = Debian-exim
never_users = root
host_lookup =
dsn_advertise_hosts = *
delay_warning = {warning}
# Exim's default sends no warning about mail with a List-Id (as digest's has): asked here
delay_warning_condition = true
acl_smtp_rcpt = acl_rcpt
begin acl
acl_rcpt:
  accept
begin routers
returns:
  driver = accept
  domains = digest.test
  transport = to_bounces
disabled:
  driver = redirect
  domains = {local}
  local_parts = olduser
  data = :fail: This account has been disabled or discontinued
  allow_fail
moved:
  driver = redirect
  domains = {local}
  local_parts = moved
  data = :fail: 551 User not local; the address is now someone@elsewhere.test
  allow_fail
full:
  driver = accept
  domains = {local}
  local_parts = grace
  transport = to_full
readers:
  driver = accept
  domains = {local}
  local_parts = ada
  transport = to_inbox
remote:
  driver = manualroute
  domains = {remote_domain}
  transport = remote_smtp
  route_list = * 127.0.0.1::{remote}
  self = send
closed:
  driver = manualroute
  domains = closed.test
  transport = remote_smtp
  route_list = * {closed_host}::{closed}
  self = send
nosuch:
  driver = manualroute
  domains = nosuch.test
  transport = remote_smtp
  route_list = * nosuch.test byname
  host_find_failed = fail
begin transports
remote_smtp:
  driver = smtp
  hosts_avoid_tls = *
  allow_localhost
to_bounces:
  driver = appendfile
  directory = {root}/Bounces
  maildir_format
  user = Debian-exim
to_inbox:
  driver = appendfile
  directory = {root}/Inbox
  maildir_format
  user = Debian-exim
to_full:
  driver = appendfile
  directory = {root}/Full
  maildir_format
  user = Debian-exim
  quota = 10
begin retry
*   *   F,{retry},1s
"""


def exim_scenarios() -> list[Scenario]:
    return scenarios_of(*(s.name for s in LOCAL_SCENARIOS if s.name != "relayed-with-receipt"))


def exim(cache: Path, folder: Path, delays: bool = False) -> tuple[str, dict[str, bytes]]:
    """Exim's reports for its scenarios (see postfix); the version is the machine's."""
    import pwd

    exim_user = pwd.getpwnam("Debian-exim")
    for name in ("spool", "log", "Bounces", "Inbox", "Full"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        os.chown(folder / name, exim_user.pw_uid, exim_user.pw_gid)
    port = free_port()
    scenarios = DELAYED_SCENARIOS if delays else exim_scenarios()
    with sc.remote_server() as (remote, _):
        settings = {
            **_places(folder, port, remote),
            "retry": "1d" if delays else "2s", "warning": "2s" if delays else "0s",
        }  # fmt: skip
        conf = _config(folder / "exim.conf", EXIM_CONF.format(**settings))
        script = f"exim4 -C {conf} -bd -q1s -oX {port} -oP {folder}/exim.pid"
        with mtasandbox.sandbox(folder, (), script) as box:
            found = _fed(box, port, scenarios, folder / "Bounces" / "new")
    return _exim_version(), _named(found, scenarios)


# -- Sendmail ---------------------------------------------------------------------------------

SENDMAIL_MC = """\
divert(-1)
include(`/usr/share/sendmail/cf/m4/cf.m4')
divert(0)dnl
VERSIONID(`digest corpus')dnl
OSTYPE(`debian')dnl
define(`LOCAL_MAILER_PATH', `/usr/libexec/sendmail/mail.local')dnl
define(`LOCAL_MAILER_ARGS', `mail.local -f $g -d $u')dnl
define(`confDOMAIN_NAME', `mx.sendmail.test')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confSERVICE_SWITCH_FILE', `/etc/mail/service.switch-nodns')dnl
define(`confTO_CONNECT', `3s')dnl
define(`confTO_QUEUEWARN', `{warn}')dnl
define(`confTO_QUEUERETURN', `{giveup}')dnl
define(`confMIN_QUEUE_AGE', `0')dnl
define(`ALIAS_FILE', `/etc/mail/aliases')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {remote}')dnl
define(`ESMTP_MAILER_ARGS', `TCP $h {closed}')dnl
FEATURE(`nocanonify')dnl
FEATURE(`mailertable', `hash -o /etc/mail/mailertable')dnl
FEATURE(`virtusertable', `hash -o /etc/mail/virtusertable')dnl
LOCAL_DOMAIN(`{local} digest.test')dnl
MAILER(`local')dnl
MAILER(`smtp')dnl
"""

SENDMAIL_START = """\
echo 'smmta:x:3920:3920::/var/lib/sendmail:/usr/sbin/nologin' >> /etc/passwd
echo 'smmsp:x:3921:3921::/var/lib/sendmail:/usr/sbin/nologin' >> /etc/passwd
for user in ada:3930 grace:3931 bounces:3932; do
    echo "${{user%%:*}}:x:${{user#*:}}:${{user#*:}}::/nonexistent:/usr/sbin/nologin" >> /etc/passwd
    echo "${{user%%:*}}:x:${{user#*:}}:" >> /etc/group
done
printf 'smmta:x:3920:\\nsmmsp:x:3921:\\n' >> /etc/group
echo "127.0.0.1 mx.sendmail.test $(hostname)" >> /etc/hosts
mkdir -p /var/spool/mqueue /var/spool/mqueue-client /var/lib/sendmail/host_status
mkdir -p /var/mail /run/sendmail/mta
chmod 0700 /var/spool/mqueue
chmod 1777 /var/mail
m4 {root}/sendmail.mc > /etc/mail/sendmail.cf
cp {root}/mailertable {root}/virtusertable {root}/aliases /etc/mail/
makemap hash /etc/mail/mailertable < /etc/mail/mailertable
makemap hash /etc/mail/virtusertable < /etc/mail/virtusertable
/usr/libexec/sendmail/sendmail -Am -C /etc/mail/sendmail.cf -bi
for message in {root}/outgoing/*.eml; do
    /usr/libexec/sendmail/sendmail -Am -C /etc/mail/sendmail.cf -odq -oem -f {sender} \\
        $(cat "${{message%.eml}}.opts") < "$message" || true
done
/usr/libexec/sendmail/sendmail -Am -C /etc/mail/sendmail.cf -q1s
"""


SENDMAIL_PACKAGES = ("sendmail-bin", "sendmail-base", "sendmail-cf", "m4", "liblockfile1")


def sendmail_scenarios() -> list[Scenario]:
    return exim_scenarios()


def sendmail(cache: Path, folder: Path, delays: bool = False) -> tuple[str, dict[str, bytes]]:
    """Sendmail's reports: the messages are handed to it on the command line (queued, then
    delivered by its queue runner), so that a local user it does not know is reported by
    mail rather than refused while the sender is connected."""
    packages = tuple(mtasandbox.fetch(name, cache) for name in SENDMAIL_PACKAGES)
    scenarios = DELAYED_SCENARIOS if delays else sendmail_scenarios()
    _outgoing(folder, scenarios, _notify)
    with sc.remote_server() as (remote, _):
        settings = {
            "remote": remote, "closed": free_port(), "local": LOCAL,
            "warn": "1s" if delays else "1d", "giveup": "1d" if delays else "4s",
        }  # fmt: skip
        (folder / "sendmail.mc").write_text(SENDMAIL_MC.format(**settings), encoding="utf-8")
        _sendmail_tables(folder)
        script = SENDMAIL_START.format(root=folder, sender=sc.SENDER)
        with mtasandbox.sandbox(folder, packages, script) as box:
            mbox = box.written / "var" / "mail" / "bounces"
            wait_until(lambda: _mbox_count(mbox) >= len(scenarios))
            reports = _mbox_messages(mbox)
    return packages[0].version, _named(reports, scenarios)


def _sendmail_tables(folder: Path) -> None:
    """Where remote.test and closed.test are, two local addresses that fail with the
    server's own error mailer, and a full mailbox (a program that says so)."""
    tables = {
        "mailertable": f"{sc.REMOTE} relay:[127.0.0.1]\nclosed.test esmtp:[{CLOSED}]\n",
        "virtusertable": f"olduser@{LOCAL} error:5.2.1:550 This account has been disabled\n"
        f"moved@{LOCAL} error:5.1.6:551 User not local; please try someone@elsewhere.test\n",
        "aliases": "postmaster: root\nMAILER-DAEMON: root\n"
        'grace: "|/bin/sh -c \\"echo Mailbox full: quota exceeded >&2; exit 73\\""\n',
    }
    for name, text in tables.items():
        (folder / name).write_text(text, encoding="utf-8")


def _mbox_count(path: Path) -> int:
    return len(_mbox_messages(path, write=False)) if path.exists() else 0


def _mbox_messages(path: Path, write: bool = True) -> list[Path]:
    """The messages of an mbox, each written to a file beside it (for _named)."""
    import mailbox

    if not path.exists():
        return []
    box = mailbox.mbox(path, create=False)
    found = []
    try:
        for number, key in enumerate(box.keys()):
            target = path.parent / f"{path.name}.{number:03}.eml"
            if write:
                target.write_bytes(box.get_bytes(key))
            found.append(target)
    finally:
        box.close()
    return found


# -- Courier ----------------------------------------------------------------------------------

COURIER_PACKAGES = ("courier-base", "courier-mta", "courier-authlib", "libcourier-unicode4",
                    "libgamin0", "libpcre3", "libnet-cidr-perl")  # fmt: skip

COURIER_START = """\
echo 'courier:x:3940:3940::/var/lib/courier:/usr/sbin/nologin' >> /etc/passwd
echo 'courier:x:3940:' >> /etc/group
mkdir -p /run/courier /var/lib/courier/sts
echo mx.courier.test > /etc/courier/me
echo courier.test > /etc/courier/defaultdomain
cp {root}/esmtproutes {root}/queuetime {root}/warntime {root}/retryalpha {root}/retrybeta \\
    {root}/retrygamma /etc/courier/
sed -i 's/^ESMTP_USE_STARTTLS=1/ESMTP_USE_STARTTLS=0/' /etc/courier/courierd
chown -R courier:courier /var/lib/courier /etc/courier /run/courier
testmxlookup --sts-cache-disable
courier start
for message in {root}/outgoing/*.eml; do
    sendmail -f {sender} $(cat "${{message%.eml}}.opts") < "$message" || true
done
"""


def courier_scenarios() -> list[Scenario]:
    return scenarios_of(
        "domain-refuses-connections",
        "relayed-with-receipt",
    )


def courier(cache: Path, folder: Path, delays: bool = False) -> tuple[str, dict[str, bytes]]:
    """Courier's reports. Its local delivery needs its authentication daemon, so the
    scenarios are the remote ones; its reports go to digest.test through the remote server
    (an esmtproutes entry), where they are collected. MTA-STS look-ups are turned off (they
    ask a name server first)."""
    packages = tuple(mtasandbox.fetch(name, cache) for name in COURIER_PACKAGES)
    scenarios = DELAYED_SCENARIOS if delays else courier_scenarios()
    _outgoing(folder, scenarios, _notify)
    with sc.remote_server() as (remote, handler):
        files = {
            "esmtproutes": f"{sc.REMOTE}:[127.0.0.1],{remote}\ndigest.test:[127.0.0.1],{remote}\n"
            f"closed.test:[{CLOSED}],{free_port()}\n",
            "queuetime": "1d" if delays else "20s", "warntime": "2s" if delays else "1d",
            "retryalpha": "2s", "retrybeta": "3", "retrygamma": "2s",
        }  # fmt: skip
        for name, text in files.items():
            (folder / name).write_text(text + "\n", encoding="utf-8")
        script = COURIER_START.format(root=folder, sender=sc.SENDER)
        with mtasandbox.sandbox(folder, packages, script):
            reports = _collected(handler, len(scenarios), folder / "reports")
    version = next(p.version for p in packages if p.name == "courier-mta")
    return version, _named(reports, scenarios)


def _notify(scenario: Scenario) -> list[str]:
    """The sendmail commands' option asking for delivery status notifications."""
    return ["-N", scenario.notify.lower()] if scenario.notify else []


def _outgoing(
    folder: Path, scenarios: list[Scenario], options: Callable[[Scenario], list[str]]
) -> None:
    """Each scenario's message and its command-line arguments (options, then recipients),
    for the servers that are handed their mail by a sendmail command."""
    outgoing = folder / "outgoing"
    outgoing.mkdir(parents=True, exist_ok=True)
    for scenario in scenarios:
        letter = sc.message(scenario.name, list(scenario.recipients))
        (outgoing / f"{scenario.name}.eml").write_bytes(letter.as_bytes())
        arguments = [*options(scenario), *scenario.recipients]
        (outgoing / f"{scenario.name}.opts").write_text(" ".join(arguments), encoding="utf-8")


def _exim_version() -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "exim4-daemon-light"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    return done.stdout.strip() or "unknown"


SERVERS: dict[str, Callable[[Path, Path, bool], tuple[str, dict[str, bytes]]]] = {
    "postfix": postfix,
    "opensmtpd": opensmtpd,
    "dma": dma,
    "exim": exim,
    "sendmail": sendmail,
    "courier": courier,
}
