"""Every member-facing sentence, in the member's language (see i18n). Pure functions, no I/O.

markup     Discord markup (<#id>, <@id>, <t:…:R>) and user text made inert
refusals   a Refusal or an error as a reply; "Nothing was charged." added once, here
jobs       placeholders, captions, how a job ended
account    /set and /credits
admin      /admin replies and audit-log lines
"""
