// Who is signed in to the issuer service, for the views and the router: `online` when the
// page is served by the service, `user` ({name, role, branch}) when signed in.

import { get } from './api.js';

export const session = {
  online: false,
  user: null,
};

export function role() {
  return session.user ? session.user.role : null;
}

// Asks the service who is signed in (a reload keeps the session).
export async function refreshSession() {
  try {
    const me = await get('/api/session');
    session.user = me.user;
  } catch {
    session.user = null;
  }
}
