// A one-shot message shown by the next screen ("Person registered").
let pending = null;

export const flash = {
  set(message) {
    pending = message;
  },
  take() {
    const m = pending;
    pending = null;
    return m;
  },
};
