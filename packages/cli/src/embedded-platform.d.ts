/**
 * The platform package's CommonJS module body as one function, made by
 * scripts/bundle.mjs for the executable's bundle only (src/exe.ts).
 */
declare module 'hvtjs:embedded-platform' {
  const body: (
    exports: object,
    require: (id: string) => unknown,
    module: { exports: object },
    filename: string,
  ) => void;
  export default body;
}
