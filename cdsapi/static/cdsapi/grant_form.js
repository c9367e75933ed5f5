'use strict';
{
    const $ = django.jQuery;

    // The grant form's accounts autocomplete offers only the accounts of the customer chosen
    // in the same form. Django's autocomplete widget sends no other field, so the chosen
    // customer is added to its requests here; the server narrows by it
    // (AccountAdmin.get_search_results) and checks every account against the customer again
    // when the grant is saved.
    $.ajaxPrefilter(function(options) {
        if (typeof options.data !== 'string') {
            return;
        }
        const params = new URLSearchParams(options.data);
        if (params.get('app_label') !== 'cdsapi' || params.get('model_name') !== 'grant' ||
            params.get('field_name') !== 'accounts') {
            return;
        }
        const customer = document.getElementById('id_customer');
        if (customer && customer.value) {
            params.set('customer', customer.value);
            options.data = params.toString();
        }
    });

    // A window bound (.cds-window: a choice, a date, maybe a time). The date counts only with
    // "custom date", so giving one (typed, or picked from the calendar, whose shortcuts set
    // the value and then focus the input) chooses "custom date"; choosing anything else
    // clears it.
    function bound(element) {
        const box = element.closest('.cds-window');
        return box && {choice: box.querySelector('select'), inputs: box.querySelectorAll('input')};
    }

    function picked(event) {
        const found = bound(event.target);
        if (!found || event.target.tagName !== 'INPUT') {
            return;
        }
        const input = event.target;
        const changed = event.type !== 'focusin' || input.value !== (input.dataset.seen || '');
        input.dataset.seen = input.value;
        if (changed && input.value && found.choice.value !== 'custom') {
            found.choice.value = 'custom';
        }
    }

    function chosen(event) {
        const found = bound(event.target);
        if (!found || event.target.tagName !== 'SELECT' || event.target.value === 'custom') {
            return;
        }
        for (const input of found.inputs) {
            input.value = '';
            input.dataset.seen = '';
        }
    }

    document.addEventListener('input', picked);
    document.addEventListener('focusin', picked);
    document.addEventListener('change', picked);
    document.addEventListener('change', chosen);
    document.addEventListener('DOMContentLoaded', function() {
        for (const input of document.querySelectorAll('.cds-window input')) {
            input.dataset.seen = input.value;
        }
    });
}
