// cargo xtask dev's live reload. Only dev serves this file and adds it to the page it serves;
// no build of the client contains it. It follows /_dev/events (same origin, so the site's
// Content-Security-Policy allows it): a new build of the client reloads the page (the draft and
// the session are in localStorage and survive); a change that did not build, or a policy
// finding, shows an overlay until it is fixed, while the last good build keeps running.
(() => {
  let generation = null;
  const overlay = () => {
    let element = document.getElementById('brain2-dev-overlay');
    if (!element) {
      element = document.createElement('div');
      element.id = 'brain2-dev-overlay';
      element.setAttribute('role', 'alert');
      const title = document.createElement('strong');
      title.textContent = 'cargo xtask dev: the last change did not build or failed the policy pack; the last good build keeps running';
      const text = document.createElement('pre');
      element.append(title, text);
      document.body.append(element);
    }
    return element;
  };
  const show = (state) => {
    if (state.problem) {
      const element = overlay();
      element.querySelector('pre').textContent = state.problem;
      element.hidden = false;
    } else {
      const element = document.getElementById('brain2-dev-overlay');
      if (element) element.hidden = true;
    }
  };
  const events = new EventSource('/_dev/events');
  events.addEventListener('state', (message) => {
    const state = JSON.parse(message.data);
    if (generation !== null && state.generation !== generation) {
      location.reload();
      return;
    }
    generation = state.generation;
    show(state);
  });
})();
