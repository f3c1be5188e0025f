/**
 * Labels chosen in the app, on top of "labels by folder": a first-level folder can be excluded
 * (its photos become unlabelled) or mapped to another class name (rename, merge), and single
 * photos can be put in a class (root photos included). The folders themselves are never touched.
 */
export interface LabelRules {
  /** First-level folder -> the class its photos belong to; null: excluded. Absent: the folder's own name. */
  folders: ReadonlyMap<string, string | null>;
  /** Photo (path relative to the root) -> its class, whatever its folder says. */
  photos: ReadonlyMap<string, string>;
}

export const NO_RULES: LabelRules = { folders: new Map(), photos: new Map() };

/** The first-level folder a photo sits in (its folder class), or null for a photo in the root. */
export function folderOf(relPath: string): string | null {
  const slash = relPath.indexOf('/');
  return slash < 0 ? null : relPath.slice(0, slash);
}

/** The class a photo is trained and evaluated as. */
export function effectiveClass(rules: LabelRules, relPath: string, folderClass: string | null = folderOf(relPath)): string | null {
  const own = rules.photos.get(relPath);
  if (own !== undefined) return own;
  if (folderClass === null) return null;
  const mapped = rules.folders.get(folderClass);
  return mapped === undefined ? folderClass : mapped;
}

/** The class a folder's photos go to (without per-photo labels). */
export function folderClass(rules: LabelRules, folder: string): string | null {
  const mapped = rules.folders.get(folder);
  return mapped === undefined ? folder : mapped;
}

/** Every class name the rules give the library's folders, plus those given to single photos. */
export function classNames(rules: LabelRules, folders: Iterable<string>): string[] {
  const names = new Set<string>();
  for (const folder of folders) {
    const name = folderClass(rules, folder);
    if (name !== null) names.add(name);
  }
  for (const name of rules.photos.values()) names.add(name);
  return [...names].sort();
}
