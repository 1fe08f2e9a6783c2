// naq-events dashboard: keyboard shortcuts, auto-submitting filters and the
// live feed. Plain JavaScript, no dependencies; the pages work without it
// (the live feed excepted).
(function () {
  'use strict';

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  // ---- filters: the state lives in the URL; empty fields stay out of it.
  $$('form.filters').forEach(function (form) {
    form.addEventListener('submit', function () {
      $$('input, select', form).forEach(function (el) { if (!el.value) el.disabled = true; });
    });
    $$('select', form).forEach(function (el) {
      el.addEventListener('change', function () { form.requestSubmit(); });
    });
  });

  // ---- keyboard shortcuts
  var help = $('#help');
  var helpBtn = $('#help-open');
  function toggleHelp() {
    if (!help) return;
    if (help.open) help.close(); else help.showModal();
  }
  if (helpBtn) helpBtn.addEventListener('click', toggleHelp);

  var selected = -1;
  function rows() { return $$('table.rows tbody tr').filter(function (tr) { return !tr.classList.contains('empty') && tr.offsetParent !== null; }); }
  function select(delta) {
    var rs = rows();
    if (!rs.length) return;
    if (selected >= 0 && rs[selected]) rs[selected].classList.remove('selected');
    selected = Math.max(0, Math.min(rs.length - 1, selected + delta));
    var tr = rs[selected];
    tr.classList.add('selected');
    tr.scrollIntoView({ block: 'nearest' });
    var a = $('a', tr);
    if (a) a.focus({ preventScroll: true });
  }

  var pendingG = false;
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var typing = t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
    if (typing) {
      if (e.key === 'Escape') t.blur();
      return;
    }
    if (pendingG) {
      pendingG = false;
      var to = { o: '/', l: '/live', f: '/failures' }[e.key];
      if (to) { e.preventDefault(); location.href = to; }
      return;
    }
    switch (e.key) {
      case '/': e.preventDefault(); var q = $('#q'); if (q) { q.focus(); q.select(); } break;
      case '?': e.preventDefault(); toggleHelp(); break;
      case 'j': e.preventDefault(); select(1); break;
      case 'k': e.preventDefault(); select(-1); break;
      case 'g': pendingG = true; break;
      case 'p': if (feed) { e.preventDefault(); togglePause(); } break;
      default:
    }
  });

  // ---- live feed: one EventSource per tab, closed while the tab is hidden
  // and reopened after the last event received, so nothing is missed and
  // nothing is shown twice.
  var feed = $('#feed');
  var togglePause = function () {};
  if (feed) live(feed);

  function live(table) {
    var base = table.getAttribute('data-stream');
    // The API's event ids are "seq" or "seq@epoch"; the feed resumes after
    // the last one received, and shows an event only if its seq is newer.
    var lastID = table.getAttribute('data-last-id') || '';
    var last = seqOf(lastID);
    var body = table.tBodies[0];
    var status = $('#live-status');
    var pauseBtn = $('#pause');
    var pausedCount = $('#paused-count');
    var tags = {};
    var types = $$('select[name="type"] option').filter(function (o) { return o.value; }).map(function (o) {
      tags[o.value] = o.getAttribute('data-tag') || 'info';
      return o.value;
    });
    var es = null, retry = null, paused = false, held = [], shown = 0;
    var maxRows = 500;

    function setStatus(text, cls) { status.textContent = text; status.className = 'status ' + (cls || ''); }
    function seqOf(id) { var n = parseInt(id, 10); return isNaN(n) ? 0 : n; }
    function url() {
      if (!lastID) return base;
      return base + (base.indexOf('?') === base.length - 1 ? '' : '&') + 'last_event_id=' + encodeURIComponent(lastID);
    }

    function open() {
      if (es || document.hidden) return;
      clearTimeout(retry);
      es = new EventSource(url());
      es.onopen = function () { table.setAttribute('data-connected', 'true'); setStatus(paused ? 'paused' : 'live', 'on'); };
      es.onerror = function () {
        // Reconnect ourselves, after the last event received (EventSource's
        // own retry would reuse the first URL's last_event_id).
        close();
        setStatus('reconnecting…', 'off');
        retry = setTimeout(open, 1000);
      };
      types.forEach(function (type) { es.addEventListener(type, onEvent); });
      es.addEventListener('gap', onGap);
    }
    function close() {
      if (es) { es.close(); es = null; }
      table.setAttribute('data-connected', 'false');
    }

    // gap: the stream was re-created since lastID; it starts again from
    // its first event, with sequences from 1.
    function onGap(e) {
      var info = {};
      try { info = JSON.parse(e.data); } catch (err) { /* keep the default text */ }
      last = 0;
      // Resume from the new stream's start ("0": after no event) should
      // the connection drop before its first event, not from now.
      lastID = '0';
      notice(info.reason || 'the stream was re-created: events may have been lost');
    }
    function notice(text) {
      var tr = document.createElement('tr');
      tr.className = 'notice';
      var td = document.createElement('td');
      td.colSpan = 7;
      td.className = 'err';
      td.textContent = text;
      tr.appendChild(td);
      body.insertBefore(tr, body.firstChild);
    }

    function onEvent(e) {
      var seq = seqOf(e.lastEventId);
      if (!(seq > last)) return;
      last = seq;
      lastID = e.lastEventId;
      var doc;
      try { doc = JSON.parse(e.data); } catch (err) { return; }
      if (paused) {
        held.push([seq, doc]);
        pausedCount.textContent = held.length + ' new while paused';
        return;
      }
      add(seq, doc, true);
    }

    function cell(tr, text, cls) {
      var td = document.createElement('td');
      if (cls) td.className = cls;
      td.textContent = text == null ? '' : String(text);
      tr.appendChild(td);
      return td;
    }
    function fmtTime(ts) {
      var d = new Date(ts * 1000);
      return isNaN(d) ? '' : d.toISOString().replace('T', ' ').replace('Z', '');
    }
    function add(seq, doc, flash) {
      var empty = $('tr.empty', body);
      if (empty) empty.remove();
      var tr = document.createElement('tr');
      tr.setAttribute('data-seq', seq);
      tr.setAttribute('data-job', doc.job_id || '');
      tr.setAttribute('data-type', doc.event_type || '');
      if (flash) tr.className = 'new';
      cell(tr, seq, 'num');
      cell(tr, fmtTime(doc.timestamp), 'nowrap');
      var tdType = cell(tr, '');
      var tag = document.createElement('span');
      tag.className = 'tag ' + (tags[doc.event_type] || 'info');
      tag.textContent = doc.event_type;
      tdType.appendChild(tag);
      var tdJob = cell(tr, '', 'nowrap');
      var a = document.createElement('a');
      a.href = '/jobs/' + encodeURIComponent(doc.job_id);
      a.textContent = doc.job_id;
      tdJob.appendChild(a);
      cell(tr, doc.queue_name);
      cell(tr, doc.worker_id, 'nowrap');
      var msg = doc.message || '';
      if (doc.error_message) msg += ' — ' + (doc.error_type ? doc.error_type + ': ' : '') + doc.error_message;
      cell(tr, msg, doc.error_message ? 'err' : '');
      body.insertBefore(tr, body.firstChild);
      shown++;
      while (body.rows.length > maxRows) body.deleteRow(body.rows.length - 1);
      table.setAttribute('data-received', shown);
    }

    togglePause = function () {
      paused = !paused;
      pauseBtn.setAttribute('aria-pressed', String(paused));
      pauseBtn.textContent = paused ? 'Resume' : 'Pause';
      pauseBtn.setAttribute('aria-label', paused ? 'Resume the feed (p)' : 'Pause the feed (p)');
      if (!paused) {
        held.forEach(function (h) { add(h[0], h[1], false); });
        held = [];
        pausedCount.textContent = '';
      }
      if (es) setStatus(paused ? 'paused' : 'live', 'on');
    };
    pauseBtn.addEventListener('click', togglePause);

    document.addEventListener('visibilitychange', function () {
      if (document.hidden) { close(); clearTimeout(retry); setStatus('paused while hidden', ''); } else { open(); }
    });
    window.addEventListener('pagehide', close);
    open();
  }
})();
