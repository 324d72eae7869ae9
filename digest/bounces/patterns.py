"""What a server's words and codes say about why a message was not delivered: a table of
REASONS (user unknown, host unknown, mailbox full, disabled, policy/blocked, spam, rate limit,
expired, too large, security, other), each with the RFC 3463 enhanced status codes and the
phrases that name it. Three of them say the address is dead (DEAD_REASONS); every other one is
only "not this time" or "not this message". Also the shapes of reports themselves: who sends
them, their subjects, where the returned message starts, and a warning's words."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Reason(enum.StrEnum):
    """Why a message came back (`reason` in `digest bounces process --json`)."""

    USER_UNKNOWN = "user unknown"
    HOST_UNKNOWN = "host unknown"
    MAILBOX_FULL = "mailbox full"
    DISABLED = "disabled"  # also moved and inactive
    POLICY = "policy/blocked"  # blocklists, relay and access denied, greylisting
    SPAM = "spam"
    RATE_LIMIT = "rate limit"
    EXPIRED = "expired"  # given up after retries or a queue lifetime
    TOO_LARGE = "too large"
    SECURITY = "security"  # a virus, an unauthenticated sender
    OTHER = "other"  # none given, or none of these
    ABUSE = "abuse"  # a complaint: "this is spam"
    OPT_OUT = "opt-out"  # a complaint: "unsubscribe me" (RFC 5965 opt-out)
    NONE = ""  # not a failure (a receipt, an auto-reply, a warning…)


# The reasons that say the address itself is dead: a hard bounce.
DEAD_REASONS = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.DISABLED})


@dataclass(frozen=True, slots=True)
class Rule:
    """One reason: the enhanced status codes that name it (exact, or a prefix ending in a
    dot) and the words that do."""

    reason: Reason
    codes: tuple[str, ...]
    words: re.Pattern[str]


def phrases(*said: str) -> re.Pattern[str]:
    """One pattern that finds any of these phrases, whatever their case."""
    return re.compile("|".join(said), re.I)


# Checked in this order: every reason that is not a dead address comes first, so that a
# server's words that it is full, blocked or spam overrule a generic-looking dead code (Sendmail
# reports every RCPT 550 as 5.1.1, whatever the remote said); a temporary failure (OTHER, not
# dead) comes before "host not found" so that Postfix's "Host not found, try again" is not.
REASONS: tuple[Rule, ...] = (
    Rule(Reason.TOO_LARGE, ("5.3.4", "4.3.4", "5.2.3"), phrases(
        r"too (?:large|big)", r"message size", r"size (?:limit|exceeds)",
        r"exceeds? (?:the )?(?:maximum|max|size)", r"message length exceeds")),
    Rule(Reason.MAILBOX_FULL, ("5.2.2", "4.2.2"), phrases(
        r"quota", r"mail ?box (?:is |was )?full", r"mail ?folder is full", r"box is full",
        r"(?:mailbox|disk|storage) (?:space|limit)", r"space not enough",
        r"insufficient (?:disk |storage )?space", r"not have enough space", r"too much mail",
        r"exceeded storage",
        r"storage allocation", r"full mailbox", r"mailbox (?:size|capacity)",
        r"over ?(?:limit|the limit)")),
    Rule(Reason.RATE_LIMIT, ("4.7.28", "5.7.28", "4.7.0"), phrases(
        r"rate limit", r"rate[ -]limited", r"too many (?:connections|messages|recipients|mails)",
        r"unusual rate", r"sending rate", r"try (?:again )?later.{0,40}(?:volume|rate)",
        r"receiving mail at a rate", r"throttl", r"unexpected volume")),
    Rule(Reason.SPAM, ("5.7.350",), phrases(
        r"spam(?!haus|cop)", r"unsolicited", r"bulk mail", r"content (?:rejected|filter)",
        r"message content", r"junk")),
    Rule(Reason.SECURITY, ("5.7.26", "5.7.27", "5.7.5", "5.7.6", "5.7.7", "5.7.25", "5.7.30"),
         phrases(r"virus", r"malware", r"infected", r"authentication", r"\bspf\b", r"dkim",
                r"dmarc", r"unauthenticated", r"not authenticated", r"reverse dns",
                r"\bptr\b")),
    Rule(Reason.POLICY, ("5.7.", "4.7.", "5.3.2"), phrases(
        r"block(?:ed|list|ing)", r"blacklist", r"denylist", r"reputation", r"policy",
        r"not accepting mail", r"unable to relay", r"relay(?:ing)? (?:denied|not permitted|"
        r"access denied|prohibited)", r"not permitted to relay", r"greylist", r"graylist",
        r"access denied", r"administrative(?:ly)? prohibit", r"\bdenied\b", r"refused to accept",
        r"\brbl\b", r"spamhaus", r"barracuda", r"not allowed", r"prohibited")),
    Rule(Reason.OTHER, ("4.",), phrases(
        r"loop", r"too many hops", r"time(?:d)? ?out", r"try again later", r"try again",
        r"temporar", r"connection refused", r"could not connect", r"unable to connect",
        r"not responding", r"no answer", r"could not find a gateway", r"lost connection",
        r"conversation with .{1,80} timed out", r"service (?:not )?(?:available|unavailable)",
        r"resources", r"local error")),
    Rule(Reason.DISABLED, ("5.2.1", "5.1.6"), phrases(
        r"(?:account|mailbox|address|user)(?: \S+)? (?:has been |is |was )?(?:disabled|"
        r"discontinued|deactivated|closed|terminated|removed|deleted|suspended|inactive|"
        r"expired|locked|blocked for inactivity)", r"inactive (?:user|account|mailbox)",
        r"no longer (?:valid|active|in use|exists|available|accepts|with)",
        r"user not local", r"has moved", r"moved permanently", r"is not active",
        r"mailbox (?:is )?(?:disabled|inactive)", r"tried to reach is (?:disabled|inactive)")),
    Rule(Reason.HOST_UNKNOWN, ("5.1.2", "5.1.10"), phrases(
        r"domain (?:does not exist|doesn'?t exist|not found|name not found|unknown|is invalid)",
        r"unknown host", r"unknown domain", r"(?:couldn'?t|could not) find any host",
        r"host (?:or domain name )?not found", r"nxdomain",
        r"host unknown", r"unrout(?:e)?able (?:mail )?domain", r"no mx",
        r"unable to look ?up", r"name or service not known", r"no such domain",
        r"no matches to nameserver query", r"does not have a final (?:e-?mail )?delivery point",
        r"mail for \S+ loops back", r"no route to host", r"domain is not (?:valid|configured)",
        r"host (?:\S+ )?does not (?:exist|accept mail)", r"null mx", r"does not accept mail",
        r"unresolvable", r"non-?existent (?:host|domain)s?")),
    Rule(Reason.USER_UNKNOWN, ("5.1.1", "5.1.3"), phrases(
        r"user(?:name)? unknown", r"unknown (?:or illegal )?(?:user|recipient|mailbox|"
        r"address(?:ee)?|account|local-part|local part)", r"addressee unknown",
        r"no such (?:user|mailbox|recipient|address|account|person|local user)",
        r"user not (?:found|known|exist)", r"(?:user|mailbox|recipient|address|account|"
        r"e-?mail)(?: name)? (?:is )?(?:not found|does not exist|doesn'?t exist|not exist|"
        r"invalid|unknown|unavailable)", r"invalid (?:mailbox|recipient|address|user|final "
        r"delivery userid)", r"(?:is|are) not (?:a )?valid (?:user|mailbox|recipient|address|"
        r"e-?mail)", r"not a valid (?:user|mailbox|recipient|address)", r"no mailbox here",
        r"mailbox (?:unavailable|not found|does not exist)", r"doesn'?t have an? \S+ account",
        r"does not have an? \S+ account", r"not listed in (?:the )?(?:domino )?directory",
        r"name is not recognized", r"nonexistent (?:user|recipient|mailbox|address)",
        r"non-existent (?:user|recipient|mailbox|address)", r"recipient (?:not accepted|unknown)",
        r"unrout(?:e)?able address", r"did not exactly match", r"recipient address rejected: user",
        r"address (?:does not exist|rejected: user)", r"couldn'?t be found",
        r"could not be found", r"couldn'?t find",
        r"not our customer", r"unknown recipient", r"bad (?:recipient|destination mailbox)",
        r"n'existe pas", r"existiert nicht", r"unbekannt", r"no existe", r"inexistente",
        r"utente inesistente", r"user doesn'?t exist", r"存在しません", r"存在しない",
        r"there is no (?:user|one) ", r"tried to reach does not exist", r"illegal alias",
        r"address unknown", r"not a known user")),
)  # fmt: skip

# A failure given up on after retries: named so, whatever the last try said.
EXPIRED = phrases(
    r"delivery time expired", r"retry time(?:out)? exceeded",
    r"too long in (?:the )?queue", r"could not be delivered for \d+", r"gave up",
    r"giving up", r"retry timeout exceeded", r"lifetime", r"expired", r"failed \d+ attempts",
    r"message (?:has been |was )?in (?:the )?queue too long", r"maximum time",
    r"undeliverable for \d+",
)  # fmt: skip

_DEAD = [rule.words.pattern for rule in REASONS if rule.reason in DEAD_REASONS]
_NOT_DEAD = [rule.words.pattern for rule in REASONS if rule.reason not in DEAD_REASONS]
# Every phrase that says the address is dead, and every one that says it is not.
DEAD = re.compile("|".join(_DEAD), re.I)
NOT_DEAD = re.compile("|".join(_NOT_DEAD), re.I)
STATUS = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")

# A warning: the message is still being retried. It never counts against a reader.
DELAYED = re.compile(
    r"\bdelayed\b|has not yet been delivered|not yet been delivered|still being retried|"
    r"will (?:continue|keep) (?:trying|to try|to attempt|attempting)|delivery attempts will "
    r"continue|this is (?:only )?a warning|warning only|warning message only|postponed|"
    r"no action is required|do not need to (?:resend|take any action)",
    re.I,
)

# Senders and subjects of delivery reports (the ones that follow no standard included).
REPORTER = re.compile(
    r"mailer-?daemon|postmaster|mail ?delivery|mdaemon|delivery subsystem|mail administrator|"
    r"e500_smtp|jetmail|symantec|imss|inetgw|microsoftexchange",
    re.I,
)
REPORT_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status|failure|failed|notification|report|problem)|"
    r"returned mail|failure notice|mail delivery failed|non-?delivery|delivery has failed|"
    r"delayed mail|message delayed|warning: message|mail not delivered|could not be delivered|"
    r"failed mail|mail system error|mail error|permanent delivery failure|nameserver error|"
    r"automatically rejected|returned to sender|delivery status|nondeliverable|unzustellbar|"
    r"nicht zustellbar|non remis|non recapitabile|onbestelbaar|no se puede entregar|"
    r"message not delivered|unable to deliver|delivery unsuccessful|failed delivery",
    re.I,
)

# Where a report stops and the returned message begins (reports that are one text part).
RETURNED = re.compile(
    r"^[ \t]*(?:-+ ?)?(?:below this line is a copy of the message|original message follows|"
    r"returned mail ?-|"
    r"this is a copy of the message|the original message follows|returned mail follows|"
    r"unsent message below|start of returned message|header of the source mail|"
    r"original message|copy of the message|your message reads)",
    re.I | re.M,
)
