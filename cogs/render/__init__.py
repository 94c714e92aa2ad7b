"""Every member-facing sentence, in the member's language (see i18n). Pure functions, no I/O.

i18n       `_`, `ngettext`, numbers and lists in the language of a Discord locale (gettext catalogs)
markup     Discord markup (<#id>, <@id>, <t:…:R>) and user text made inert
refusals   a Refusal or an error as a reply; "Nothing was charged." added once, here
jobs       placeholders, captions, how a job ended, the Cancel button's answer
account    /set and /credits
admin      /admin replies and listings
audit      audit-channel lines (in the server's language)
"""
