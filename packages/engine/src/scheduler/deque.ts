/**
 * Double-ended queue on a growable ring buffer: O(1) push / pop at both ends and O(1) indexed reads. The scheduler's
 * waiting queue uses it: FCFS admission takes from the front, preemption puts victims back at the front, and a
 * plain array's shift() / unshift() would move every queued request each time (thousands under the peer protocol).
 */
export class Deque<T> {
  private buf: (T | undefined)[];
  private head = 0;
  private size = 0;

  constructor(capacity = 16) {
    this.buf = new Array<T | undefined>(Math.max(4, capacity));
  }

  get length(): number {
    return this.size;
  }

  private grow(): void {
    const old = this.buf;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = old[(this.head + i) % old.length];
    this.buf = next;
    this.head = 0;
  }

  pushBack(x: T): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) % this.buf.length] = x;
    this.size++;
  }

  pushFront(x: T): void {
    if (this.size === this.buf.length) this.grow();
    this.head = (this.head - 1 + this.buf.length) % this.buf.length;
    this.buf[this.head] = x;
    this.size++;
  }

  /** The front element, or undefined when empty. */
  peekFront(): T | undefined {
    return this.size > 0 ? this.buf[this.head] : undefined;
  }

  popFront(): T | undefined {
    if (this.size === 0) return undefined;
    const x = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.size--;
    return x;
  }

  at(i: number): T | undefined {
    return i >= 0 && i < this.size ? this.buf[(this.head + i) % this.buf.length] : undefined;
  }

  /** Drops every element for which `pred` holds, keeping the order of the rest: O(length). */
  removeWhere(pred: (x: T) => boolean): void {
    let kept = 0;
    const n = this.buf.length;
    for (let i = 0; i < this.size; i++) {
      const x = this.buf[(this.head + i) % n] as T;
      if (!pred(x)) this.buf[(this.head + kept++) % n] = x;
    }
    for (let i = kept; i < this.size; i++) this.buf[(this.head + i) % n] = undefined;
    this.size = kept;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.size; i++) yield this.buf[(this.head + i) % this.buf.length] as T;
  }
}
