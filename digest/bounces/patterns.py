"""What the words of a delivery report mean: the phrases that say an address is dead, the ones
that say it is only unreachable for now (or refused for what was sent), and the ones of a
warning about a message still being retried. Status codes (RFC 3463) decide where they are
specific; the words decide where a server only said "5.0.0" or nothing at all."""

from __future__ import annotations

import re

# RFC 3463 enhanced status codes that say the address itself is dead: no such mailbox (5.1.1),
# no such domain (5.1.2), an address that cannot be one (5.1.3), moved (5.1.6), a domain that
# takes no mail (5.1.10), a disabled mailbox (5.2.1).
DEAD_CODES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1"})
# Codes that say the address is there and the message was refused for now or for what it is:
# a full mailbox or quota (5.2.2, 5.2.3), size (5.3.4), content and media (5.6.x), security
# and policy: spam, authentication, blocks (5.7.x).
NOT_DEAD_CODES = ("5.2.2", "5.2.3", "5.3.4", "5.6.", "5.7.")
STATUS = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")

# The address is dead. A phrase here only decides when the code does not (none, or x.x.0).
DEAD = re.compile(
    r"user(?:name)? unknown|unknown (?:or illegal )?(?:user|recipient|mailbox|address(?:ee)?|"
    r"account|local-part|local part)|addressee unknown|no such (?:user|mailbox|recipient|"
    r"address|account|person|domain|local user)|user not (?:found|known|exist)|"
    r"(?:user|mailbox|recipient|address|account)(?: name)? (?:is )?(?:not found|does not exist|"
    r"doesn'?t exist|not exist|invalid|unknown|unavailable: user not found)|"
    r"invalid (?:mailbox|recipient|address|user|final delivery userid)|"
    r"(?:is|are) not (?:a )?valid (?:user|mailbox|recipient|address|e-?mail)|"
    r"not a valid (?:user|mailbox|recipient|address)|no mailbox here|"
    r"mailbox (?:unavailable|not found|does not exist)|"
    r"(?:account|mailbox) (?:has been |is )?(?:disabled|discontinued|deactivated|closed|"
    r"terminated|removed|deleted|suspended permanently)|doesn'?t have an? \S+ account|"
    r"does not have an? \S+ account|no longer (?:valid|active|in use|exists|available)|"
    r"not listed in (?:the )?(?:domino )?directory|name is not recognized|"
    r"domain (?:does not exist|doesn'?t exist|not found|name not found|unknown)|"
    r"unknown host|unknown domain|host or domain name not found|nxdomain|"
    r"unrout(?:e)?able address|does not have a final (?:e-?mail )?delivery point|"
    r"no matches to nameserver query|did not exactly match|recipient address rejected: user|"
    r"address (?:does not exist|no longer|rejected: user)|n'existe pas|existiert nicht|"
    r"unbekannt|no existe",
    re.I,
)

# Only unreachable for now, or refused for what was sent: never dead, whatever else it says.
NOT_DEAD = re.compile(
    r"quota|mail ?box (?:is |was )?full|mail ?folder is full|(?:mailbox|disk|storage) "
    r"(?:space|limit)|space not enough|insufficient (?:disk |storage )?space|too much mail|"
    r"exceed|too (?:large|big)|message size|spam|unsolicited|block(?:ed|list)|blacklist|"
    r"reputation|policy|not accepting mail|unable to relay|relay(?:ing)? (?:denied|not "
    r"permitted|access denied)|not permitted to relay|loop|too many hops|time(?:d)? ?out|"
    r"try again later|not found, try again|temporar|greylist|rate limit|"
    r"too many (?:connections|messages|recipients)|not (?:been )?collected|"
    r"connection refused|could not connect|unable to connect|not responding|no answer|virus|"
    r"content (?:rejected|filter|policy)|authentication|\bspf\b|dkim|dmarc|"
    r"could not find a gateway|over ?limit",
    re.I,
)

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
    r"e500_smtp|jetmail|symantec|imss|inetgw",
    re.I,
)
REPORT_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status|failure|failed|notification|report|problem)|"
    r"returned mail|failure notice|mail delivery failed|non-?delivery|delivery has failed|"
    r"delayed mail|message delayed|warning: message|mail not delivered|could not be delivered|"
    r"failed mail|mail system error|mail error|permanent delivery failure|nameserver error|"
    r"automatically rejected|returned to sender|delivery status",
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
