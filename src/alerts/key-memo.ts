/**
 * Builds `x \u0000 y` map keys, handing back the last one when asked for the same parts again:
 * a batch's events come in runs of one principal and hour (or secret), so most events reuse a
 * string whose hash is already computed instead of building and hashing a new one.
 */
export function keyMemo(): (x: string, y: string | number) => string {
  let lastX: string | undefined;
  let lastY: string | number | undefined;
  let key = '';
  return (x, y) => {
    if (x !== lastX || y !== lastY) {
      lastX = x;
      lastY = y;
      key = `${x}\u0000${y}`;
    }
    return key;
  };
}
