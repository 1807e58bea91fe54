# ruff: noqa: E501 (sentences of the catalog stay whole, one per line)
"""Page and message texts in Romanian, Polish and English (simple message catalogs).

The language is the ``lang`` cookie set by the switcher, else the best match of
Accept-Language (RFC 9110 §12.5.4), else English. Kept as dictionaries rather than compiled
gettext catalogs so a fresh checkout needs no build step; a test checks every key exists in
every language.
"""

from __future__ import annotations

LANGUAGES = ("ro", "pl", "en")
NAMES = {"ro": "Română", "pl": "Polski", "en": "English"}

_T: dict[str, tuple[str, str, str]] = {
    # key: (ro, pl, en)
    "site": ("Portalul pacientului", "Portal pacjenta", "Patient portal"),
    "skip": ("Salt la conținut", "Przejdź do treści", "Skip to content"),
    "language": ("Limba", "Język", "Language"),
    "login_title": ("Autentificare", "Logowanie", "Sign in"),
    "login_id": (
        "Email sau nume de utilizator",
        "Email lub nazwa użytkownika",
        "Email or user name",
    ),
    "password": ("Parola", "Hasło", "Password"),
    "remember": ("Ține-mă minte", "Zapamiętaj mnie", "Remember me"),
    "submit_login": ("Intră în cont", "Zaloguj", "Sign in"),
    "bad_login": (
        "Email, nume de utilizator sau parolă greșită.",
        "Błędny email, nazwa użytkownika lub hasło.",
        "Wrong email, user name or password.",
    ),
    "throttled": (
        "Prea multe încercări. Încercați din nou peste {seconds} secunde.",
        "Zbyt wiele prób. Spróbuj ponownie za {seconds} sekund.",
        "Too many attempts. Try again in {seconds} seconds.",
    ),
    "locked": (
        "Contul a fost blocat după prea multe parole greșite. Contactați {contact} pentru deblocare.",
        "Konto zostało zablokowane po zbyt wielu błędnych hasłach. Skontaktuj się z {contact}, aby je odblokować.",
        "Your account was locked after too many wrong passwords. Contact {contact} to unlock it.",
    ),
    "unverified": (
        "Confirmați mai întâi adresa de email (verificați mesajele primite).",
        "Najpierw potwierdź adres email (sprawdź skrzynkę).",
        "Please confirm your email address first (check your inbox).",
    ),
    "no_account": (
        "Nu aveți cont? Înregistrați-vă",
        "Nie masz konta? Zarejestruj się",
        "No account? Register",
    ),
    "register_title": ("Înregistrare", "Rejestracja", "Register"),
    "full_name": ("Nume complet", "Imię i nazwisko", "Full name"),
    "email": ("Email", "Email", "Email"),
    "national_id_CNP": ("CNP", "CNP", "Personal numeric code (CNP)"),
    "national_id_PESEL": ("PESEL", "PESEL", "PESEL number"),
    "password_hint": (
        "Cel puțin 10 caractere.",
        "Co najmniej 10 znaków.",
        "At least 10 characters.",
    ),
    "submit_register": ("Creează contul", "Utwórz konto", "Create account"),
    "bad_national_id": (
        "Numărul de identificare nu este valid.",
        "Numer identyfikacyjny jest nieprawidłowy.",
        "The national ID number is not valid.",
    ),
    "no_match": (
        "Datele nu corespund unui pacient al spitalului. Verificați numele și numărul.",
        "Dane nie odpowiadają pacjentowi szpitala. Sprawdź imię, nazwisko i numer.",
        "These details do not match a patient of the hospital. Check the name and number.",
    ),
    "taken": (
        "Există deja un cont pentru aceste date.",
        "Konto dla tych danych już istnieje.",
        "An account already exists for these details.",
    ),
    "weak_password": (
        "Parola trebuie să aibă între 10 și 128 de caractere.",
        "Hasło musi mieć od 10 do 128 znaków.",
        "The password must be 10 to 128 characters long.",
    ),
    "bad_email": (
        "Adresa de email nu este validă.",
        "Adres email jest nieprawidłowy.",
        "The email address is not valid.",
    ),
    "check_mail_title": ("Verificați emailul", "Sprawdź pocztę", "Check your email"),
    "register_intro": (
        "Linkul de activare este trimis la adresa de email pe care spitalul o are pentru dumneavoastră.",
        "Link aktywacyjny wysyłamy na adres email, który szpital ma w Twojej dokumentacji.",
        "The activation link goes to the email address the hospital holds for you.",
    ),
    "register_sent": (
        "Dacă datele corespund unui pacient al spitalului, am trimis un link de activare la adresa de email pe care spitalul o are pentru dumneavoastră. Deschideți-l pentru a vă alege parola. Dacă nu primiți nimic, adresați-vă la {contact}.",
        "Jeśli dane odpowiadają pacjentowi szpitala, wysłaliśmy link aktywacyjny na adres email, który szpital ma w Twojej dokumentacji. Otwórz go, aby ustawić hasło. Jeśli nic nie dotrze, zwróć się do {contact}.",
        "If these details match a patient of the hospital, we sent an activation link to the email address the hospital holds for you. Open it to choose your password. If nothing arrives, ask {contact}.",
    ),
    "activate_title": ("Activarea contului", "Aktywacja konta", "Activate your account"),
    "submit_activate": ("Activează contul", "Aktywuj konto", "Activate account"),
    "activated": (
        "Contul este gata. Numele de utilizator este {username}. Vă puteți autentifica.",
        "Konto jest gotowe. Nazwa użytkownika to {username}. Możesz się zalogować.",
        "Your account is ready. Your user name is {username}. You can sign in.",
    ),
    "bad_link": (
        "Linkul nu mai este valabil. Cereți unul nou.",
        "Link jest już nieważny. Poproś o nowy.",
        "This link is no longer valid. Ask for a new one.",
    ),
    "factor_title": ("Cod de verificare", "Kod weryfikacyjny", "Verification code"),
    "factor_email": (
        "Am trimis un cod la adresa de email a contului.",
        "Wysłaliśmy kod na adres email konta.",
        "We sent a code to your account's email address.",
    ),
    "factor_sms": (
        "Am trimis un cod de 4 cifre prin SMS.",
        "Wysłaliśmy 4-cyfrowy kod SMS-em.",
        "We sent a 4-digit code by SMS.",
    ),
    "factor_totp": (
        "Introduceți codul din aplicația de autentificare.",
        "Wpisz kod z aplikacji uwierzytelniającej.",
        "Enter the code from your authenticator app.",
    ),
    "code": ("Cod", "Kod", "Code"),
    "submit_code": ("Verifică", "Zweryfikuj", "Verify"),
    "bad_code": (
        "Cod greșit sau expirat.",
        "Błędny lub wygasły kod.",
        "Wrong or expired code.",
    ),
    "home_title": ("Contul meu", "Moje konto", "My account"),
    "signed_in_as": ("Autentificat ca {name}", "Zalogowano jako {name}", "Signed in as {name}"),
    "logout": ("Ieșire", "Wyloguj", "Sign out"),
    "logout_all": (
        "Ieșire de pe toate dispozitivele",
        "Wyloguj ze wszystkich urządzeń",
        "Sign out everywhere",
    ),
    "email_code_on": (
        "Codul prin email la autentificare este activ (nu poate fi dezactivat).",
        "Kod email przy logowaniu jest włączony (nie można go wyłączyć).",
        "Email code at sign-in is on (it cannot be turned off).",
    ),
    "turn_email_code_on": (
        "Activează codul prin email la autentificare",
        "Włącz kod email przy logowaniu",
        "Turn on an email code at sign-in",
    ),
    "bad_input": (
        "Formularul conține caractere de control sau un text prea lung. Corectați și trimiteți din nou.",
        "Formularz zawiera znaki sterujące lub zbyt długi tekst. Popraw go i wyślij ponownie.",
        "The form holds control characters or a text that is too long. Correct it and send it again.",
    ),
    "csrf": (
        "Formularul a expirat. Reîncărcați pagina și încercați din nou.",
        "Formularz wygasł. Odśwież stronę i spróbuj ponownie.",
        "The form expired. Reload the page and try again.",
    ),
    "welcome_title": (
        "Informare și parolă",
        "Klauzula informacyjna i hasło",
        "Information clause and password",
    ),
    "clause_text": (
        "Spitalul prelucrează datele dumneavoastră de sănătate pentru a vi le arăta în portal și aplicațiile pe care le autorizați (GDPR art. 9 alin. 2 lit. h). Puteți cere oricând accesul, rectificarea sau restricționarea prelucrării.",
        "Szpital przetwarza Twoje dane o zdrowiu, aby udostępnić je w portalu i w aplikacjach, które upoważnisz (RODO art. 9 ust. 2 lit. h). W każdej chwili możesz żądać dostępu, sprostowania lub ograniczenia przetwarzania.",
        "The hospital processes your health data to show it to you in the portal and in the apps you authorize (GDPR Art. 9(2)(h)). You may ask at any time for access, rectification or restriction of processing.",
    ),
    "clause_version": ("Versiunea {version}", "Wersja {version}", "Version {version}"),
    "accept_clause": (
        "Am citit și accept informarea",
        "Przeczytałem(-am) i akceptuję klauzulę",
        "I have read and accept the information clause",
    ),
    "clause_required": (
        "Trebuie să acceptați informarea pentru a continua.",
        "Aby kontynuować, zaakceptuj klauzulę.",
        "You need to accept the information clause to continue.",
    ),
    "new_password": ("Parola nouă", "Nowe hasło", "New password"),
    "submit_welcome": ("Continuă", "Dalej", "Continue"),
    "forgot_link": ("Ați uitat parola?", "Nie pamiętasz hasła?", "Forgot your password?"),
    "forgot_title": ("Resetarea parolei", "Reset hasła", "Reset your password"),
    "submit_forgot": ("Trimite linkul", "Wyślij link", "Send the link"),
    "reset_sent": (
        "Dacă adresa are un cont, am trimis un link valabil o oră.",
        "Jeśli adres ma konto, wysłaliśmy link ważny godzinę.",
        "If the address has an account, we sent a link valid for one hour.",
    ),
    "reset_title": ("Parolă nouă", "Nowe hasło", "New password"),
    "submit_reset": ("Salvează parola", "Zapisz hasło", "Save the password"),
    "password_changed": (
        "Parola a fost schimbată.",
        "Hasło zostało zmienione.",
        "Your password was changed.",
    ),
    "password_title": ("Schimbarea parolei", "Zmiana hasła", "Change password"),
    "current_password": ("Parola actuală", "Obecne hasło", "Current password"),
    "bad_current": (
        "Parola actuală este greșită.",
        "Obecne hasło jest błędne.",
        "The current password is wrong.",
    ),
    "email_title": ("Schimbarea adresei de email", "Zmiana adresu email", "Change email address"),
    "new_email": ("Adresa nouă", "Nowy adres", "New address"),
    "submit_email": ("Trimite codul", "Wyślij kod", "Send the code"),
    "email_code_sent": (
        "Am trimis un cod la adresa nouă. Introduceți-l mai jos.",
        "Wysłaliśmy kod na nowy adres. Wpisz go poniżej.",
        "We sent a code to the new address. Enter it below.",
    ),
    "email_changed": (
        "Adresa de email a fost schimbată.",
        "Adres email został zmieniony.",
        "Your email address was changed.",
    ),
    "profile_title": ("Profil", "Profil", "Profile"),
    "phone": ("Telefon mobil", "Telefon komórkowy", "Mobile phone"),
    "bad_phone": (
        "Numărul de telefon nu este valid.",
        "Numer telefonu jest nieprawidłowy.",
        "The phone number is not valid.",
    ),
    "submit_save": ("Salvează", "Zapisz", "Save"),
    "saved": ("Salvat.", "Zapisano.", "Saved."),
    "identities_title": (
        "Persoane pentru care acționez",
        "Osoby, w imieniu których działam",
        "People I act for",
    ),
    "relation_self": ("Eu", "Ja", "Myself"),
    "relation_guardian": ("În grija mea", "Pod moją opieką", "In my care"),
    "add_ward": (
        "Adaugă un minor în grija mea",
        "Dodaj osobę małoletnią pod moją opieką",
        "Add a minor in my care",
    ),
    "submit_add": ("Adaugă", "Dodaj", "Add"),
    "remove": ("Elimină", "Usuń", "Remove"),
    "not_guardian": (
        "Spitalul nu are înregistrată o legătură de tutelă cu această persoană.",
        "Szpital nie ma zapisanego opiekuństwa nad tą osobą.",
        "The hospital has no guardian link between you and this person.",
    ),
    "already": (
        "Persoana este deja în listă.",
        "Ta osoba jest już na liście.",
        "This person is already on the list.",
    ),
    "identities_intro": (
        "Spitalul verifică fiecare persoană în evidențele sale înainte de a o adăuga.",
        "Szpital sprawdza każdą osobę w swojej dokumentacji, zanim ją doda.",
        "The hospital checks each person against its records before adding them.",
    ),
    "sex": ("Sex", "Płeć", "Sex"),
    "sex_F": ("Feminin", "Kobieta", "Female"),
    "sex_M": ("Masculin", "Mężczyzna", "Male"),
    "sex_U": ("Necunoscut", "Nieznana", "Unknown"),
    "age": ("Vârsta", "Wiek", "Age"),
    "age_one": ("{n} an", "{n} rok", "{n} year"),
    "age_few": ("{n} ani", "{n} lata", "{n} years"),
    "age_many": ("{n} de ani", "{n} lat", "{n} years"),
    "ending_in": ("se termină cu {digits}", "kończy się na {digits}", "ending in {digits}"),
    "verified_on": (
        "Verificat în evidențele spitalului la {date}",
        "Zweryfikowano w dokumentacji szpitala {date}",
        "Verified in hospital on {date}",
    ),
    "add_ward_hint": (
        "Spitalul trebuie să aibă înregistrată tutela dumneavoastră asupra acestei persoane.",
        "Szpital musi mieć zapisane Twoje opiekuństwo nad tą osobą.",
        "The hospital must hold a record that this person is in your care.",
    ),
    "remove_title": ("Eliminați {name}?", "Usunąć {name}?", "Remove {name}?"),
    "important": ("Important", "Ważne", "Important"),
    "remove_help": (
        "Nu veți mai putea vedea datele lui {name} și nici acționa pentru această persoană. O puteți adăuga din nou oricând, cât timp spitalul are înregistrată tutela.",
        "Nie będziesz już widzieć danych osoby {name} ani działać w jej imieniu. Możesz ją dodać ponownie, dopóki szpital ma zapisane opiekuństwo.",
        "You will no longer see the records of {name} or act for them. You can add them again while the hospital holds the guardian link.",
    ),
    "remove_confirm": ("Da, elimină", "Tak, usuń", "Yes, remove"),
    "remove_cancel": ("Nu, păstrează", "Nie, zostaw", "No, keep them"),
    "removed": (
        "{name} a fost eliminat(ă) din listă.",
        "Osoba {name} została usunięta z listy.",
        "{name} was removed from the list.",
    ),
    "confirm_password": (
        "Repetați parola nouă",
        "Powtórz nowe hasło",
        "Type the password again",
    ),
    "passwords_differ": (
        "Cele două parole noi nu sunt identice.",
        "Oba nowe hasła nie są takie same.",
        "The two new passwords are not the same.",
    ),
    "problem": ("Există o problemă", "Wystąpił problem", "There is a problem"),
    "apps_link": ("Aplicațiile permise", "Dozwolone aplikacje", "Apps you allowed"),
    "email_code_heading": (
        "Codul prin email la autentificare",
        "Kod email przy logowaniu",
        "Email code at sign-in",
    ),
    "on": ("Activ", "Włączony", "On"),
    "totp_open": (
        "Deschideți cheia în aplicația de autentificare",
        "Otwórz klucz w aplikacji uwierzytelniającej",
        "Open the key in your authenticator app",
    ),
    "mail_reset_subject": ("Resetarea parolei", "Reset hasła", "Reset your password"),
    "mail_reset_body": (
        "Deschideți acest link pentru a alege o parolă nouă (valabil o oră, o singură dată):\n{link}\n\nDacă nu ați cerut resetarea, ignorați mesajul.",
        "Otwórz ten link, aby ustawić nowe hasło (ważny godzinę, jednorazowy):\n{link}\n\nJeśli nie prosiłeś(-aś) o reset, zignoruj wiadomość.",
        "Open this link to choose a new password (valid one hour, once):\n{link}\n\nIf you did not ask for a reset, ignore this message.",
    ),
    "mail_change_subject": (
        "Confirmați adresa nouă",
        "Potwierdź nowy adres",
        "Confirm your new address",
    ),
    "mail_change_body": (
        "Codul pentru confirmarea adresei noi este {code}. Expiră în 30 de minute.",
        "Kod potwierdzający nowy adres to {code}. Wygasa po 30 minutach.",
        "The code confirming your new address is {code}. It expires in 30 minutes.",
    ),
    "totp_title": (
        "Aplicație de autentificare",
        "Aplikacja uwierzytelniająca",
        "Authenticator app",
    ),
    "totp_help": (
        "Adăugați această cheie în aplicația de autentificare, apoi introduceți codul afișat.",
        "Dodaj ten klucz w aplikacji uwierzytelniającej, a potem wpisz wyświetlony kod.",
        "Add this key to your authenticator app, then enter the code it shows.",
    ),
    "totp_on": (
        "Aplicația de autentificare este activă.",
        "Aplikacja uwierzytelniająca jest włączona.",
        "The authenticator app is on.",
    ),
    "mail_activate_subject": (
        "Activați contul de pacient",
        "Aktywuj konto pacjenta",
        "Activate your patient account",
    ),
    "mail_activate_body": (
        "Bună ziua, {name},\n\nCineva a cerut un cont în portalul pacientului pentru dumneavoastră. Deschideți acest link pentru a vă alege parola și a activa contul:\n{link}\n\nLinkul expiră în 24 de ore. Dacă nu ați fost dumneavoastră, ignorați acest mesaj.",
        "Dzień dobry, {name},\n\nKtoś poprosił o konto w portalu pacjenta dla Ciebie. Otwórz ten link, aby ustawić hasło i aktywować konto:\n{link}\n\nLink wygasa po 24 godzinach. Jeśli to nie Ty, zignoruj tę wiadomość.",
        "Hello {name},\n\nSomeone asked for a patient portal account for you. Open this link to choose your password and activate it:\n{link}\n\nThe link expires in 24 hours. If it was not you, ignore this message.",
    ),
    "mail_code_subject": ("Codul de autentificare", "Kod logowania", "Your sign-in code"),
    "mail_code_body": (
        "Codul dumneavoastră este {code}. Expiră în 10 minute.",
        "Twój kod to {code}. Wygasa po 10 minutach.",
        "Your code is {code}. It expires in 10 minutes.",
    ),
    "sms_code": (
        "Cod de autentificare: {code}",
        "Kod logowania: {code}",
        "Sign-in code: {code}",
    ),
    "mail_temp_subject": (
        "Contul dumneavoastră de pacient",
        "Twoje konto pacjenta",
        "Your patient account",
    ),
    "mail_temp_body": (
        "Bună ziua, {name},\n\nSpitalul v-a creat un cont. Utilizator: {username}\nParolă temporară: {password}\n\nLa prima autentificare veți alege o parolă nouă: {link}",
        "Dzień dobry, {name},\n\nSzpital utworzył dla Ciebie konto. Użytkownik: {username}\nHasło tymczasowe: {password}\n\nPrzy pierwszym logowaniu wybierzesz nowe hasło: {link}",
        "Hello {name},\n\nThe hospital created an account for you. User name: {username}\nTemporary password: {password}\n\nAt your first sign-in you will choose a new password: {link}",
    ),
}


def pick(texts: tuple[str, str, str], language: str, **values: object) -> str:
    """One of a (Romanian, Polish, English) triple in ``language`` (falling back to English),
    with ``values`` filled in; every page's dictionary is made of such triples."""
    ro, pl, en = texts
    chosen = {"ro": ro, "pl": pl}.get(language, en)
    return chosen.format(**values) if values else chosen


def text(key: str, language: str, **values: object) -> str:
    """The text ``key`` in ``language`` (falling back to English), with ``values`` filled in."""
    return pick(_T[key], language, **values)


def age(years: int, language: str) -> str:
    """An age in years with the plural each language needs (RO: 1 an, 2 ani, 20 de ani; PL:
    1 rok, 2 lata, 5 lat)."""
    if years == 1:
        form = "one"
    elif language == "ro":
        form = "few" if years == 0 or 1 <= years % 100 <= 19 else "many"
    elif language == "pl":
        form = "few" if 2 <= years % 10 <= 4 and not 12 <= years % 100 <= 14 else "many"
    else:
        form = "few"
    return text(f"age_{form}", language, n=years)


def all_keys() -> list[str]:
    return list(_T)


def text_over(
    table: dict[str, tuple[str, str, str]], key: str, language: str, **values: object
) -> str:
    """The text ``key`` of a page's own ``table`` in ``language``, or, for a key it does not
    have, the account pages' (the frame the page extends: site name, skip link, language
    switch keep their words)."""
    texts = table.get(key)
    return text(key, language, **values) if texts is None else pick(texts, language, **values)


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
