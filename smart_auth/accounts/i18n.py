# ruff: noqa: E501 (sentences stay whole, one per line)
"""The words of the account pages and of the account's mails and SMS, by key, in English; the
Romanian and Polish are in the gateway's gettext catalogs (``smart_auth.translations``).

The language is the ``lang`` cookie set by the switcher, else the best match of
Accept-Language (RFC 9110 §12.5.4), else English. ``text(key, lang)`` says a page's word in
the language; ``text_over`` does it for another page's own table, falling back to these words
(the frame: site name, skip link, language switch).
"""

from __future__ import annotations

from smart_auth.translations import LANGUAGES, N_, NP_, P_, Message, translate

__all__ = ["LANGUAGES", "NAMES", "Words", "age", "all_keys", "negotiate", "text", "text_over"]

NAMES = {"ro": "Română", "pl": "Polski", "en": "English"}

#: a page's words: key -> the English, marked for the catalogs
Words = dict[str, Message]

_T: Words = {
    "site": N_("Patient portal"),
    "skip": N_("Skip to content"),
    "language": N_("Language"),
    "login_title": N_("Sign in"),
    "login_id": N_("Email or user name"),
    "password": N_("Password"),
    "remember": N_("Remember me"),
    "submit_login": P_("button", "Sign in"),
    "bad_login": N_("Wrong email, user name or password."),
    "throttled": NP_(
        "Too many attempts. Try again in {seconds} second.",
        "Too many attempts. Try again in {seconds} seconds.",
        "seconds",
    ),
    "locked": N_(
        "Your account was locked after too many wrong passwords. Contact {contact} to unlock it."
    ),
    "unverified": N_("Please confirm your email address first (check your inbox)."),
    "no_account": N_("No account? Register"),
    "register_title": N_("Register"),
    "full_name": N_("Full name"),
    "email": N_("Email"),
    "national_id_CNP": N_("Personal numeric code (CNP)"),
    "national_id_PESEL": N_("PESEL number"),
    "password_hint": N_("At least 10 characters."),
    "submit_register": N_("Create account"),
    "bad_national_id": N_("The national ID number is not valid."),
    "no_match": N_(
        "These details do not match a patient of the hospital. Check the name and number."
    ),
    "taken": N_("An account already exists for these details."),
    "weak_password": N_("The password must be 10 to 128 characters long."),
    "bad_email": N_("The email address is not valid."),
    "check_mail_title": N_("Check your email"),
    "register_intro": N_(
        "The activation link goes to the email address the hospital holds for you."
    ),
    "register_sent": N_(
        "If these details match a patient of the hospital, we sent an activation link to the email address the hospital holds for you. Open it to choose your password. If nothing arrives, ask {contact}."
    ),
    "activate_title": N_("Activate your account"),
    "submit_activate": N_("Activate account"),
    "activated": N_("Your account is ready. Your user name is {username}. You can sign in."),
    "bad_link": N_("This link is no longer valid. Ask for a new one."),
    "factor_title": N_("Verification code"),
    "factor_email": N_("We sent a code to your account's email address."),
    "factor_sms": N_("We sent a 4-digit code by SMS."),
    "factor_totp": N_("Enter the code from your authenticator app."),
    "code": N_("Code"),
    "submit_code": N_("Verify"),
    "bad_code": N_("Wrong or expired code."),
    "home_title": N_("My account"),
    "signed_in_as": N_("Signed in as {name}"),
    "logout": N_("Sign out"),
    "logout_all": N_("Sign out everywhere"),
    "email_code_on": N_("Email code at sign-in is on (it cannot be turned off)."),
    "turn_email_code_on": N_("Turn on an email code at sign-in"),
    "bad_input": N_(
        "The form holds control characters or a text that is too long. Correct it and send it again."
    ),
    "csrf": N_("The form expired. Reload the page and try again."),
    "welcome_title": N_("Information clause and password"),
    "clause_text": N_(
        "The hospital processes your health data to show it to you in the portal and in the apps you authorize (GDPR Art. 9(2)(h)). You may ask at any time for access, rectification or restriction of processing."
    ),
    "clause_version": N_("Version {version}"),
    "accept_clause": N_("I have read and accept the information clause"),
    "clause_required": N_("You need to accept the information clause to continue."),
    "new_password": N_("New password"),
    "submit_welcome": N_("Continue"),
    "forgot_link": N_("Forgot your password?"),
    "forgot_title": N_("Reset your password"),
    "submit_forgot": N_("Send the link"),
    "reset_sent": N_("If the address has an account, we sent a link valid for one hour."),
    "reset_title": P_("page title", "New password"),
    "submit_reset": N_("Save the password"),
    "password_changed": N_("Your password was changed."),
    "password_title": N_("Change password"),
    "current_password": N_("Current password"),
    "bad_current": N_("The current password is wrong."),
    "email_title": N_("Change email address"),
    "new_email": N_("New address"),
    "submit_email": N_("Send the code"),
    "email_code_sent": N_("We sent a code to the new address. Enter it below."),
    "email_changed": N_("Your email address was changed."),
    "profile_title": N_("Profile"),
    "phone": N_("Mobile phone"),
    "birth_date": N_("Date of birth"),
    "address": N_("Address"),
    "held_note": N_("The hospital keeps these details. To change them, ask {contact}."),
    "bad_phone": N_("The phone number is not valid."),
    "submit_save": N_("Save"),
    "saved": N_("Saved."),
    "identities_title": N_("People I act for"),
    "relation_self": N_("Myself"),
    "relation_guardian": N_("In my care"),
    "add_ward": N_("Add a minor in my care"),
    "submit_add": N_("Add"),
    "remove": N_("Remove"),
    "not_guardian": N_("The hospital has no guardian link between you and this person."),
    "already": N_("This person is already on the list."),
    "identities_intro": N_(
        "The hospital checks each person against its records before adding them."
    ),
    "sex": N_("Sex"),
    "sex_F": N_("Female"),
    "sex_M": N_("Male"),
    "sex_U": N_("Unknown"),
    "age": N_("Age"),
    "age_years": NP_("{n} year", "{n} years", "n"),
    "ending_in": N_("ending in {digits}"),
    "verified_on": N_("Verified in hospital on {date}"),
    "add_ward_hint": N_("The hospital must hold a record that this person is in your care."),
    "remove_title": N_("Remove {name}?"),
    "important": N_("Important"),
    "remove_help": N_(
        "You will no longer see the records of {name} or act for them. You can add them again while the hospital holds the guardian link."
    ),
    "remove_confirm": N_("Yes, remove"),
    "remove_cancel": N_("No, keep them"),
    "removed": N_("{name} was removed from the list."),
    "confirm_password": N_("Type the password again"),
    "passwords_differ": N_("The two new passwords are not the same."),
    "problem": N_("There is a problem"),
    "error": N_("Error"),
    "information": N_("Information"),
    "show": N_("Show"),
    "hide": N_("Hide"),
    "show_password": N_("Show password"),
    "hide_password": N_("Hide password"),
    "password_shown": N_("Your password is visible"),
    "password_hidden": N_("Your password is hidden"),
    "apps_link": N_("Apps you allowed"),
    "email_code_heading": N_("Email code at sign-in"),
    "on": N_("On"),
    "totp_open": N_("Open the key in your authenticator app"),
    "mail_reset_subject": N_("Reset your password"),
    "mail_reset_body": N_(
        "Open this link to choose a new password (valid one hour, once):\n{link}\n\nIf you did not ask for a reset, ignore this message."
    ),
    "mail_change_subject": N_("Confirm your new address"),
    "mail_change_body": N_(
        "The code confirming your new address is {code}. It expires in 30 minutes."
    ),
    "totp_title": N_("Authenticator app"),
    "totp_help": N_("Add this key to your authenticator app, then enter the code it shows."),
    "totp_on": N_("The authenticator app is on."),
    "mail_activate_subject": N_("Activate your patient account"),
    "mail_activate_body": N_(
        "Hello {name},\n\nSomeone asked for a patient portal account for you. Open this link to choose your password and activate it:\n{link}\n\nThe link expires in 24 hours. If it was not you, ignore this message."
    ),
    "mail_code_subject": N_("Your sign-in code"),
    "mail_code_body": N_("Your code is {code}. It expires in 10 minutes."),
    "sms_code": N_("Sign-in code: {code}"),
    "mail_temp_subject": N_("Your patient account"),
    "mail_temp_body": N_(
        "Hello {name},\n\nThe hospital created an account for you. User name: {username}\nTemporary password: {password}\n\nAt your first sign-in you will choose a new password: {link}"
    ),
}


def text(key: str, language: str, **values: object) -> str:
    """The text ``key`` in ``language`` (falling back to English), with ``values`` filled in."""
    return translate(_T[key], language, **values)


def age(years: int, language: str) -> str:
    """An age in years in the plural form each language needs (RO: 1 an, 2 ani, 20 de ani;
    PL: 1 rok, 2 lata, 5 lat), from the catalogs' Plural-Forms."""
    return text("age_years", language, n=years)


def all_keys() -> list[str]:
    return list(_T)


def text_over(table: Words, key: str, language: str, **values: object) -> str:
    """The text ``key`` of a page's own ``table`` in ``language``, or, for a key it does not
    have, the account pages' (the frame the page extends: site name, skip link, language
    switch keep their words)."""
    message = table.get(key)
    return (
        text(key, language, **values) if message is None else translate(message, language, **values)
    )


#: whom to contact, when the deployment names nobody (``ACCOUNTS_SUPPORT_CONTACT`` empty)
_DESK = N_("the hospital's registration desk")


def contact(configured: str, language: str) -> str:
    """Whom the pages tell a person to contact: the deployment's words, or the hospital's
    registration desk in ``language``."""
    return configured or translate(_DESK, language)


def negotiate(cookie: str | None, accept_language: str) -> str:
    """The switcher's cookie if valid, else the highest-q supported Accept-Language tag."""
    if cookie in LANGUAGES:
        return str(cookie)
    best, best_q = "en", 0.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best
