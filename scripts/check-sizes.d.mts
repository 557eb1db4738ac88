/** Types of scripts/check-sizes.mjs, for the test that imports it. */
export declare const MAX_FILE_LINES: number;
export declare const MAX_FUNCTION_LINES: number;
export declare function longFunctions(
  fileName: string,
  text: string,
  limit?: number,
): { line: number; lines: number; name: string }[];
export declare function checkSizes(srcDir: string): string[];
