/** The web UI and its JSON API (extensions.ui). */
import type { FastifyInstance } from 'fastify';

export async function uiRoutes(_app: FastifyInstance): Promise<void> {
  // Filled in by the web UI work (issue 5).
}
