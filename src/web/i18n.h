/*
 * i18n.h - the pages' words in Russian and English.
 *
 * The language comes from, in order: ?lang= on the request (which also sets a
 * `lang` cookie, so the switch sticks), the `lang` cookie, Accept-Language
 * (the higher-q of ru/en), and Russian, the seed's language, otherwise.
 */
#ifndef CATDOG_WEB_I18N_H
#define CATDOG_WEB_I18N_H

typedef enum i18n_lang { LANG_RU = 0, LANG_EN = 1 } i18n_lang;

#define I18N_KEYS(X)                                                                                         \
    X(TITLE_UPLOAD, "Загрузите ваше фото", "Upload your photo")                                               \
    X(HEADING_UPLOAD, "Кошка или собака?", "Cat or dog?")                                                     \
    X(UPLOAD_HINT, "JPEG, PNG или WebP, не больше", "JPEG, PNG or WebP, at most")                             \
    X(CHOOSE_FILE, "Выбрать фото", "Choose a photo")                                                          \
    X(DROP_HERE, "или перетащите его сюда", "or drop it here")                                                \
    X(SUBMIT, "Распознать", "Classify")                                                                       \
    X(MODEL, "Модель", "Model")                                                                               \
    X(MODEL_binary, "бинарная CNN", "binary CNN")                                                             \
    X(MODEL_transfer, "transfer (SqueezeNet)", "transfer (SqueezeNet)")                                       \
    X(MODEL_both, "обе рядом", "both side by side")                                                           \
    X(MODEL_OFF, "не загружена", "not loaded")                                                                \
    X(NAV_UPLOAD, "Загрузка", "Upload")                                                                       \
    X(NAV_HISTORY, "История", "History")                                                                      \
    X(OTHER_LANG, "English", "Русский")                                                                       \
    X(RESULT_TITLE, "Результат", "Result")                                                                    \
    X(VERDICT_DOG, "На картинке собака", "The Dog is at the picture")                                        \
    X(VERDICT_CAT, "На картинке кошка", "The Cat is at the picture")                                          \
    X(PROBABILITY, "Вероятность", "Probability")                                                              \
    X(TIME, "Время", "Time")                                                                                  \
    X(MS, "мс", "ms")                                                                                         \
    X(BACK, "Загрузить другое фото", "Upload another photo")                                                  \
    X(PHOTO, "Фото", "Photo")                                                                                 \
    X(SIZE, "Размер", "Size")                                                                                 \
    X(HELP_TITLE, "Файл не загрузился", "File didn't load")                                                   \
    X(HELP_LINK, "Нажмите, чтобы загрузить правильный файл 'name'.jpg", "Push to load correct 'name'.jpg file") \
    X(HELP_TEXT, "Подходят фотографии JPEG, PNG и WebP (имена .jpg и .jpeg тоже). Файл проверяется по "       \
                 "содержимому, а не по имени.",                                                              \
      "Photos in JPEG, PNG and WebP are welcome (names ending .jpg and .jpeg too). The file is checked by "   \
      "its content, not its name.")                                                                          \
    X(HELP_LIMITS, "Ограничения", "Limits")                                                                   \
    X(HELP_MAX_BYTES, "размер файла не больше", "file size at most")                                         \
    X(HELP_MAX_PIXELS, "не больше мегапикселей:", "megapixels at most:")                                     \
    X(HELP_ONE_FILE, "один файл за раз", "one file at a time")                                                \
    X(REASON, "Причина", "Reason")                                                                            \
    X(HISTORY_TITLE, "История", "History")                                                                    \
    X(HISTORY_EMPTY, "Пока ничего не загружено.", "Nothing uploaded yet.")                                    \
    X(ACTUALLY_CAT, "На самом деле кошка", "Actually a cat")                                                  \
    X(ACTUALLY_DOG, "На самом деле собака", "Actually a dog")                                                 \
    X(FEEDBACK, "Ответ", "Feedback")                                                                          \
    X(FEEDBACK_CAT, "кошка", "a cat")                                                                         \
    X(FEEDBACK_DOG, "собака", "a dog")                                                                        \
    X(NEWER, "Новее", "Newer")                                                                                \
    X(OLDER, "Старше", "Older")                                                                               \
    X(PAGE, "Страница", "Page")                                                                               \
    X(OF, "из", "of")                                                                                         \
    X(CAT, "кошка", "cat")                                                                                    \
    X(DOG, "собака", "dog")                                                                                   \
    X(NOT_FOUND, "Страница не найдена", "Page not found")                                                    \
    X(ERR_no_file, "В форме нет файла (поле inputfile).", "The form has no file (field inputfile).")        \
    X(ERR_empty_file, "Файл пустой.", "The file is empty.")                                                  \
    X(ERR_not_an_image, "Это не изображение JPEG, PNG или WebP.", "This is not a JPEG, PNG or WebP image.") \
    X(ERR_corrupt_image, "Изображение повреждено или обрезано.", "The image is corrupt or truncated.")        \
    X(ERR_too_large, "Файл слишком большой.", "The file is too large.")                                      \
    X(ERR_too_many_pixels, "В изображении слишком много пикселей.", "The image has too many pixels.")        \
    X(ERR_too_many_files, "Нужен один файл, а пришло несколько.", "One file is expected, several came.")     \
    X(ERR_bad_request, "Запрос не разобран.", "The request could not be read.")                             \
    X(ERR_busy, "Сервер занят, попробуйте через секунду.", "The server is busy; try again in a second.")    \
    X(ERR_storage_full, "На сервере кончилось место.", "The server is out of disk space.")                  \
    X(ERR_storage_error, "Не удалось сохранить файл.", "The file could not be saved.")                      \
    X(ERR_unknown_model, "Нет такой модели.", "There is no such model.")                                     \
    X(ERR_model_not_loaded, "Эта модель сейчас не загружена.", "That model is not loaded now.")              \
    X(ERR_not_found, "Файл не найден.", "File not found.")                                                   \
    X(ERR_db_unavailable, "История сейчас недоступна: база данных не открыта.",                              \
      "The history is not available now: its database is not open.")                                        \
    X(ERR_internal, "Внутренняя ошибка сервера.", "Internal server error.")                                  \
    X(ERR_unauthorized, "Эта страница только для администратора: войдите.",                                  \
      "This page is for the administrator: log in.")                                                        \
    X(ERR_admin_off, "Страницы администратора выключены (не задан токен).",                                  \
      "The admin pages are off (no admin token is set).")                                                   \
    X(ERR_csrf, "Форма устарела или пришла с другого сайта; обновите страницу.",                             \
      "The form is stale or came from another site; reload the page.")                                      \
    X(RESULT_LINK, "Адрес этого результата (только для вас)", "This result's address (yours alone)")          \
    X(NOT_KEPT, "Фото не сохранено на сервере.", "The photo was not kept on the server.")                   \
    X(LOGIN_TITLE, "Вход администратора", "Administrator login")                                             \
    X(LOGIN_TOKEN, "Токен администратора", "Admin token")                                                    \
    X(LOGIN_SUBMIT, "Войти", "Log in")                                                                       \
    X(LOGIN_WRONG, "Неверный токен.", "Wrong token.")                                                        \
    X(LOGOUT, "Выйти", "Log out")

typedef enum i18n_key {
#define I18N_ENUM(k, ru, en) I18N_##k,
    I18N_KEYS(I18N_ENUM)
#undef I18N_ENUM
    I18N_COUNT
} i18n_key;

/* The phrase in lang (static string). */
const char *i18n(i18n_lang lang, i18n_key key);

/* The refusal text for an API error code ("not_an_image", ...); a generic text
 * for unknown codes. */
const char *i18n_reason(i18n_lang lang, const char *code);

/* "ru" / "en". */
const char *i18n_code(i18n_lang lang);

/* Parses "ru"/"en" (any case); -1 for anything else. */
int i18n_parse(const char *s);

/* Picks the language from an Accept-Language header value (may be NULL). */
i18n_lang i18n_from_accept(const char *accept_language);

#endif
