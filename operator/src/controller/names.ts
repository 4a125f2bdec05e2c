// The operator's own name as a writer (server-side apply's field manager, and the manager on merge patches).
// The names of what it creates for a ModelRollout are API vocabulary: api/names.ts.
export const FIELD_MANAGER = 'modelrollout-operator';
