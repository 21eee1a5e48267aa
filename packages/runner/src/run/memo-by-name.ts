/**
 * One build per name, shared by every caller that asks for it (one model loaded, one tokenizer trained).
 * A failed build is not kept, so a corrected file can be retried in the same process.
 */
export interface MemoByName<T> {
  get(name: string): Promise<T>;
  clear(): void;
}

export function memoByName<T>(build: (name: string) => Promise<T>): MemoByName<T> {
  const built = new Map<string, Promise<T>>();
  return {
    get(name: string): Promise<T> {
      let value = built.get(name);
      if (!value) {
        try {
          value = build(name);
        } catch (error) {
          // A builder that throws before its first await still answers with a rejected promise.
          return Promise.reject(error);
        }
        built.set(name, value);
        value.catch(() => built.delete(name));
      }
      return value;
    },
    clear: () => built.clear(),
  };
}
