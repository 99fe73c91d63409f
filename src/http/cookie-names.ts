/** The names of Berth's cookies, apart so that the access hook, the session cookies and csrf.ts share them without importing each other. */

/** The browser session (HttpOnly, signed). */
export const SESSION_COOKIE = 'session';
/** The signed-in user's name, readable by the UI's script. */
export const USER_COOKIE = 'user';
