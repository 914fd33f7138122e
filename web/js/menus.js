// Pop-up menus (a node's actions, a link's cuts, a message's drop) and the hover tooltip.
// One of each exists; opening a menu closes the previous one. Menus are keyboard friendly:
// the first item takes focus, arrows move, Escape closes and gives focus back.

import { h } from './dom.js';

function place(el, x, y) {
  el.style.left = '0px';
  el.style.top = '0px';
  const box = el.getBoundingClientRect();
  const left = Math.max(4, Math.min(x, window.innerWidth - box.width - 4));
  const top = Math.max(4, Math.min(y, window.innerHeight - box.height - 4));
  el.style.left = `${left}px`;
  el.style.top = `${top}px`;
}

export class Menu {
  constructor() {
    this.el = h('div', { class: 'menu', role: 'menu', hidden: true });
    document.body.append(this.el);
    document.addEventListener('pointerdown', (e) => { if (!this.el.hidden && !this.el.contains(e.target)) this.close(); }, true);
    this.el.addEventListener('keydown', (e) => this.keydown(e));
  }

  get isOpen() { return !this.el.hidden; }

  /** items: {label, run, disabled, danger, hint} | {heading} | {element} | 'separator' */
  open(x, y, title, items) {
    this.returnFocus = document.activeElement;
    this.el.replaceChildren();
    if (title) this.el.append(h('div', { class: 'menu-title', text: title }));
    for (const item of items) {
      if (item === 'separator') this.el.append(h('hr'));
      else if (item.heading) this.el.append(h('div', { class: 'menu-heading', text: item.heading }));
      else if (item.element) this.el.append(item.element);
      else {
        const button = h('button', {
          type: 'button', role: 'menuitem', class: item.danger ? 'danger' : '', disabled: item.disabled,
          'data-menu': item.id, title: item.hint,
        }, [h('span', { text: item.label }), item.key ? h('kbd', { text: item.key }) : null]);
        button.addEventListener('click', () => { this.close(); item.run(); });
        this.el.append(button);
      }
    }
    this.el.hidden = false;
    place(this.el, x, y);
    this.el.querySelector('button:not([disabled]), input, select')?.focus();
  }

  close() {
    if (this.el.hidden) return;
    this.el.hidden = true;
    if (this.returnFocus?.isConnected) this.returnFocus.focus?.({ preventScroll: true });
  }

  keydown(e) {
    if (e.key === 'Escape') { e.stopPropagation(); this.close(); return; }
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const items = [...this.el.querySelectorAll('button:not([disabled])')];
    const i = items.indexOf(document.activeElement);
    const next = items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length];
    next?.focus();
    e.preventDefault();
  }
}

export class Tooltip {
  constructor() {
    this.el = h('div', { class: 'tooltip', role: 'tooltip', hidden: true });
    document.body.append(this.el);
  }

  show(x, y, title, rows) {
    this.el.replaceChildren(h('div', { class: 'tooltip-title', text: title }));
    const table = h('table');
    for (const [k, v] of rows) table.append(h('tr', {}, [h('th', { text: k }), h('td', { text: v })]));
    this.el.append(table);
    this.el.hidden = false;
    place(this.el, x + 14, y + 14);
  }

  hide() {
    this.el.hidden = true;
  }
}
